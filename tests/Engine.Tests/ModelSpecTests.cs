using CnnCluster.Engine.Layers;
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
    public void AMapCombinationsPenaltyIsL1UnlessTheSpecSaysEntropy()
    {
        const string Json = """
            { "layers": [ { "type": "conv2d", "out": 4, "kernel": 5 }, { "type": "tanh" },
                          { "type": "mapcombination", "out": 6, "kernel": 3, "sparsity": 0.01, "penalty": "entropy" },
                          { "type": "mapcombination", "out": 3, "kernel": 3, "sparsity": 0.01 },
                          { "type": "mapcombination", "out": 2, "kernel": 3, "penalty": "l1" },
                          { "type": "dense", "out": 10 } ] }
            """;
        ModelSpec spec = ModelSpecJson.Parse(Json);
        Assert.Equal([SparsityPenalty.Entropy, SparsityPenalty.L1, SparsityPenalty.L1], spec.Layers.Where(l => l.Type == "mapcombination").Select(l => l.Penalty));
        MapCombination[] built = [.. Network.Build(spec).Layers.OfType<MapCombination>()];
        Assert.Equal([SparsityPenalty.Entropy, SparsityPenalty.L1, SparsityPenalty.L1], built.Select(m => m.Penalty));
        Assert.Equal([0.01f, 0.01f, 0f], built.Select(m => m.Sparsity));
        Assert.EndsWith("λ0.01 entropy", built[0].Describe());

        // written back: "penalty" only where it is not the default, so an L1 spec keeps the JSON it had
        string written = ModelSpecJson.Write(spec);
        Assert.Single(System.Text.RegularExpressions.Regex.Matches(written, "\"penalty\""));
        Assert.Contains("\"penalty\": \"entropy\"", written);
        Assert.Equal(spec.Layers, ModelSpecJson.Parse(written).Layers);
    }

    [Fact]
    public void AnUnknownPenaltyIsRefusedInOneLineListingTheValidOnes()
    {
        const string Json = """
            { "layers": [ { "type": "conv2d", "out": 4, "kernel": 5 },
                          { "type": "mapcombination", "out": 6, "kernel": 3, "sparsity": 0.01, "penalty": "l2" },
                          { "type": "dense", "out": 10 } ] }
            """;
        var e = Assert.Throws<ModelSpecException>(() => ModelSpecJson.Parse(Json));
        Assert.Equal("layer 1 (mapcombination) field 'penalty': unknown penalty 'l2'; valid penalties: l1, entropy", e.Message);
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
    [InlineData("""{ "layers": [ { "type": "mapcombination", "out": 2, "kernel": 3, "penalty": 1 }, { "type": "dense", "out": 10 } ] }""", "layer 0 (mapcombination) field 'penalty' must be a string, got 1")]
    [InlineData("""{ "layers": [ { "type": "mapcombination", "out": 2, "kernel": 3, "penalty": "Entropy" }, { "type": "dense", "out": 10 } ] }""", "unknown penalty 'Entropy'; valid penalties: l1, entropy")]
    [InlineData("""{ "layers": [ { "type": "conv2d", "out": 3, "kernel": 3, "penalty": "entropy" }, { "type": "dense", "out": 10 } ] }""", "layer 0 (conv2d): unknown field 'penalty'; valid fields: type, in, out, kernel, stride, pad, init, lr_mult")]
    [InlineData("""{ "layers": [ ] }""", "no layers")]
    [InlineData("""{ "layers": [ { "type": "dense", "out": 10 } ], "loss": "hinge" }""", "unknown loss 'hinge'")]
    [InlineData("""{ "layers": [ { "type": "dense", "out": 10 } """, "not valid JSON")]
    public void ABadSpecIsRefusedNamingTheLayerAndShapes(string json, string expected)
    {
        var e = Assert.Throws<ModelSpecException>(() => Network.Build(ModelSpecJson.Parse(json, "bad")));
        Assert.Contains(expected, e.Message);
    }
}
