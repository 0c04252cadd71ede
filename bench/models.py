"""ONNX models for ONNX Runtime Web's rows of the comparison (bench/suite.json), built
with the onnx package: one small graph per workload, inputs named a (and b), output y.
Usage: python3 bench/models.py OUT_DIR"""
import sys

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

F = TensorProto.FLOAT


def wave(n, seed, scale=1.0):
    """The suite's f32 input: ((i + seed) * 7919 % 1000) / 250 - 2, in f32."""
    i = np.arange(n, dtype=np.int64) + seed
    v = (i * 7919 % 1000).astype(np.float32) / np.float32(250) - np.float32(2)
    return (v * np.float32(scale)).astype(np.float32)


def save(path, nodes, inputs, outputs, initializers=()):
    graph = helper.make_graph(nodes, path, inputs, outputs, list(initializers))
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.checker.check_model(model)
    onnx.save(model, f"{OUT}/{path}.onnx")


def tensor(name, elem, shape):
    return helper.make_tensor_value_info(name, elem, shape)


OUT = sys.argv[1]
N = 500_000
save("dot", [helper.make_node("MatMul", ["a", "b"], ["y"])],
     [tensor("a", F, [1, N]), tensor("b", F, [N, 1])], [tensor("y", F, [1, 1])])
save("l2", [helper.make_node("ReduceL2", ["a"], ["y"], keepdims=0)],
     [tensor("a", F, [N])], [tensor("y", F, [])])
C = 100_000
save("cosine", [
    helper.make_node("MatMul", ["a", "b"], ["d"]),
    helper.make_node("ReduceL2", ["a"], ["na"], keepdims=0),
    helper.make_node("ReduceL2", ["b"], ["nb"], keepdims=0),
    helper.make_node("Mul", ["na", "nb"], ["nn"]),
    helper.make_node("Div", ["d", "nn"], ["y"]),
], [tensor("a", F, [1, C]), tensor("b", F, [C, 1])], [tensor("y", F, [1, 1])])
for n in (64, 128, 512):
    save(f"matmul{n}", [helper.make_node("MatMul", ["a", "b"], ["y"])],
         [tensor("a", F, [n, n]), tensor("b", F, [n, n])], [tensor("y", F, [n, n])])
# The C divides by nothing: it multiplies by 40 (the inverse scale); QuantizeLinear
# divides by its scale, 1/40 in f32, which may round a value the other way (the
# suite allows an off-by-one for this row).
save("quantize", [helper.make_node("QuantizeLinear", ["a", "scale", "zp"], ["y"])],
     [tensor("a", F, [N])], [tensor("y", TensorProto.INT8, [N])],
     [numpy_helper.from_array(np.array(1 / 40, dtype=np.float32), "scale"),
      numpy_helper.from_array(np.array(3, dtype=np.int8), "zp")])
save("conv", [
    helper.make_node("Conv", ["a", "k", "bias"], ["c"], kernel_shape=[3, 3]),
    helper.make_node("Relu", ["c"], ["y"]),
], [tensor("a", F, [1, 1, 256, 256])], [tensor("y", F, [1, 1, 254, 254])],
    [numpy_helper.from_array(wave(9, 3, 0.25).reshape(1, 1, 3, 3), "k"),
     numpy_helper.from_array(np.array([0.25], dtype=np.float32), "bias")])
save("softmax", [helper.make_node("Softmax", ["a"], ["y"], axis=-1)],
     [tensor("a", F, [1, 4096])], [tensor("y", F, [1, 4096])])
# Scaled dot-product attention, 128 queries and keys of 64 (corpus attention):
# softmax(Q K^T / 8) V.
save("attention", [
    helper.make_node("Transpose", ["k"], ["kt"], perm=[1, 0]),
    helper.make_node("MatMul", ["q", "kt"], ["s"]),
    helper.make_node("Mul", ["s", "scale"], ["ss"]),
    helper.make_node("Softmax", ["ss"], ["p"], axis=-1),
    helper.make_node("MatMul", ["p", "v"], ["y"]),
], [tensor("q", F, [128, 64]), tensor("k", F, [128, 64]), tensor("v", F, [128, 64])],
    [tensor("y", F, [128, 64])],
    [numpy_helper.from_array(np.array(0.125, dtype=np.float32), "scale")])
# 8-bit edge detection (corpus edges_u8): 8 * centre - the 8 neighbours, clamped.
laplacian = -np.ones((1, 1, 3, 3), dtype=np.float32)
laplacian[0, 0, 1, 1] = 8
for name, h, w in (("edges256", 256, 256), ("digits", 50316, 28)):
    save(name, [
        helper.make_node("Cast", ["a"], ["f"], to=F),
        helper.make_node("Conv", ["f", "k"], ["c"], kernel_shape=[3, 3]),
        helper.make_node("Clip", ["c", "lo", "hi"], ["d"]),
        helper.make_node("Cast", ["d"], ["y"], to=TensorProto.UINT8),
    ], [tensor("a", TensorProto.UINT8, [1, 1, h, w])], [tensor("y", TensorProto.UINT8, [1, 1, h - 2, w - 2])],
        [numpy_helper.from_array(laplacian, "k"),
         numpy_helper.from_array(np.array(0, dtype=np.float32), "lo"),
         numpy_helper.from_array(np.array(255, dtype=np.float32), "hi")])
# Cosine similarity of a query with 10,000 rows of 300, and the 10 nearest (TopK
# gives int64 indices, most similar first).
rows_cosine = [
    helper.make_node("MatMul", ["a", "b"], ["d"]),
    helper.make_node("ReduceL2", ["a"], ["na"], axes=[1], keepdims=1),
    helper.make_node("ReduceL2", ["b"], ["nb"], keepdims=0),
    helper.make_node("Mul", ["na", "nb"], ["nn"]),
    helper.make_node("Div", ["d", "nn"], ["s"]),
    helper.make_node("Reshape", ["s", "flat"], ["y"]),
]
flat = numpy_helper.from_array(np.array([10_000], dtype=np.int64), "flat")
rows_in = [tensor("a", F, [10_000, 300]), tensor("b", F, [300, 1])]
save("cosine300", rows_cosine, rows_in, [tensor("y", F, [10_000])], [flat])
knn = rows_cosine[:-1] + [
    helper.make_node("Reshape", ["s", "flat"], ["s1"]),
    helper.make_node("TopK", ["s1", "k"], ["values", "y"], largest=1, sorted=1),
]
save("knn300", knn, rows_in, [tensor("y", TensorProto.INT64, [10])],
     [flat, numpy_helper.from_array(np.array([10], dtype=np.int64), "k")])
print(f"models in {OUT}")
