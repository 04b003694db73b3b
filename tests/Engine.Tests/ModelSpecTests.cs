using CnnCluster.Engine.Models;
using Xunit;

namespace CnnCluster.Engine.Tests;

public sealed class ModelSpecTests
{
    [Fact]
    public void LeNet5HasTheDesignedShapeAndParameterCount()
    {
        Network net = Network.Build(Presets.LeNet5);
        Assert.Equal(61_706, net.ParameterCount);
        Assert.Equal(12, net.Layers.Count);
        Assert.Equal("6x28x28", net.Layers[0].Output.ToString());
        Assert.Equal("16x5x5", net.Layers[5].Output.ToString());
        Assert.Equal("400", net.Layers[6].Output.ToString());
    }

    [Fact]
    public void BouvrieHasSubsamplingAndMapCombination()
    {
        Network net = Network.Build(Presets.Bouvrie);
        Assert.Contains(net.Layers, l => l.Kind == "subsampling");
        Assert.Contains(net.Layers, l => l.Kind == "mapcombination");
        Assert.Equal(10, net.Layers[^1].Output.Size);
    }

    [Theory]
    [InlineData("lenet5")]
    [InlineData("bouvrie")]
    public void JsonRoundTripKeepsTheModel(string preset)
    {
        ModelSpec spec = Presets.Find(preset)!;
        ModelSpec again = ModelSpecJson.Parse(ModelSpecJson.Write(spec));
        Assert.Equal(Network.Build(spec).Describe(), Network.Build(again).Describe());
        Assert.Equal(Network.Build(spec).InitialParameters(3), Network.Build(again).InitialParameters(3));
    }

    [Fact]
    public void InitializationIsAFunctionOfTheSeed()
    {
        Network net = Network.Build(Presets.LeNet5);
        Assert.Equal(net.InitialParameters(9), net.InitialParameters(9));
        Assert.NotEqual(net.InitialParameters(9), net.InitialParameters(10));
    }

    [Theory]
    [InlineData("""{ "layers": [ { "type": "convolution", "out": 3 } ] }""", "layer 0: unknown layer type 'convolution'; valid types: conv2d")]
    [InlineData("""{ "layers": [ { "type": "conv2d", "out": 3, "kernal": 3 } ] }""", "layer 0 (conv2d): unknown field 'kernal'; valid fields: type, in, out, kernel")]
    [InlineData("""{ "layers": [ { "type": "conv2d", "out": 3, "kernel": 31 }, { "type": "dense", "out": 10 } ] }""", "layer 0 (conv2d): kernel 31 is larger than the padded input 28x28 (input 1x28x28)")]
    [InlineData("""{ "layers": [ { "type": "conv2d", "out": 0, "kernel": 3 }, { "type": "dense", "out": 10 } ] }""", "layer 0 (conv2d): 'out' must be positive, got 0")]
    [InlineData("""{ "layers": [ { "type": "maxpool2d", "size": 2 }, { "type": "dense", "in": 100, "out": 10 } ] }""", "layer 1 (dense): declares in=100 but the previous layer gives 196")]
    [InlineData("""{ "layers": [ { "type": "conv2d", "in": 3, "out": 4, "kernel": 3 }, { "type": "dense", "out": 10 } ] }""", "layer 0 (conv2d): declares in=3 but the previous layer gives 1")]
    [InlineData("""{ "layers": [ { "type": "flatten" }, { "type": "dense", "out": 12 } ] }""", "layer 1 (dense 784->12): outputs 12 = 12 values but the model has 10 classes")]
    [InlineData("""{ "input": [1, 0, 28], "layers": [ { "type": "dense", "out": 10 } ] }""", "input shape 1x0x28 must have positive channels")]
    [InlineData("""{ "layers": [ { "type": "maxpool2d", "size": 40 }, { "type": "dense", "out": 10 } ] }""", "layer 0 (maxpool2d): window 40 is larger than the input 28x28")]
    [InlineData("""{ "layers": [ { "type": "subsampling", "size": 2, "mode": "median" }, { "type": "dense", "out": 10 } ] }""", "layer 0 (subsampling): mode 'median' is not one of mean, sum")]
    [InlineData("""{ "layers": [ ] }""", "no layers")]
    [InlineData("""{ "layers": [ { "type": "dense", "out": 10 } ], "loss": "hinge" }""", "unknown loss 'hinge'")]
    [InlineData("""{ "layers": [ { "type": "dense", "out": 10 } """, "not valid JSON")]
    public void ABadSpecIsRefusedNamingTheLayerAndShapes(string json, string expected)
    {
        var e = Assert.Throws<ModelSpecException>(() => Network.Build(ModelSpecJson.Parse(json, "bad")));
        Assert.Contains(expected, e.Message);
    }
}
