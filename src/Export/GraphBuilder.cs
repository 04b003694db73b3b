using System.Runtime.InteropServices;
using Google.Protobuf;
using Onnx;

namespace CnnCluster.Export;

/// <summary>Nodes and initializers of one graph, each node's output named after the node.</summary>
internal sealed class GraphBuilder(string name)
{
    public GraphProto Graph { get; } = new() { Name = name };

    /// <summary>Adds a node whose one output is named <paramref name="output"/> (or after its op and position); returns that name.</summary>
    public string Node(string op, string[] inputs, string? output = null, params AttributeProto[] attributes)
    {
        output ??= $"{op.ToLowerInvariant()}_{Graph.Node.Count}";
        var node = new NodeProto { OpType = op, Name = output };
        node.Input.Add(inputs);
        node.Output.Add(output);
        node.Attribute.Add(attributes);
        Graph.Node.Add(node);
        return output;
    }

    /// <summary>A float initializer of the given shape, its values little-endian in raw_data.</summary>
    public string Tensor(string tensorName, ReadOnlySpan<float> values, long[] dims)
    {
        var t = new TensorProto { Name = tensorName, DataType = (int)TensorProto.Types.DataType.Float, RawData = ByteString.CopyFrom(MemoryMarshal.AsBytes(values)) };
        t.Dims.Add(dims);
        Graph.Initializer.Add(t);
        return tensorName;
    }

    /// <summary>An int64 initializer of one dimension (a shape, for Reshape).</summary>
    public string Longs(string tensorName, long[] values)
    {
        var t = new TensorProto { Name = tensorName, DataType = (int)TensorProto.Types.DataType.Int64 };
        t.Dims.Add(values.Length);
        t.Int64Data.Add(values);
        Graph.Initializer.Add(t);
        return tensorName;
    }

    public string Scalar(string tensorName, float value) => Tensor(tensorName, [value], []);

    /// <summary>The node that outputs <paramref name="from"/> outputs <paramref name="to"/> instead.</summary>
    public void Rename(string from, string to)
    {
        foreach (NodeProto node in Graph.Node)
        {
            for (int i = 0; i < node.Output.Count; i++)
            {
                if (node.Output[i] == from)
                {
                    node.Output[i] = to;
                }
            }
        }
    }
}
