using System.Text.Json;
using Xunit;
using Xunit.Abstractions;

namespace CnnCluster.Coordinator.Tests;

/// <summary>
/// Augmentation and dropout through every path a run's configuration travels (DESIGN §4): the engine on
/// one or two threads, in-process workers (the star), and worker processes (the sharded all-reduce, whose
/// replicas rebuild the options from the RunConfig) all commit the same parameters.
/// </summary>
public sealed class RegularizationEndToEndTests(ITestOutputHelper output) : TrainProcesses
{
    [Fact]
    public void AugmentedDropoutRunsGiveOneHashOnAnyThreadsAndWorkers()
    {
        string spec = Path.Combine(Out, "lenet5-dropout.json");
        File.WriteAllText(spec, """
            { "name": "lenet5-dropout", "input": [1, 28, 28], "classes": 10,
              "layers": [ { "type": "conv2d", "out": 6, "kernel": 5, "pad": 2 }, { "type": "relu" }, { "type": "maxpool2d", "size": 2 },
                          { "type": "dropout", "p": 0.25 },
                          { "type": "conv2d", "out": 16, "kernel": 5 }, { "type": "relu" }, { "type": "maxpool2d", "size": 2 },
                          { "type": "flatten" }, { "type": "dense", "out": 120 }, { "type": "relu" }, { "type": "dropout", "p": 0.5 },
                          { "type": "dense", "out": 84 }, { "type": "relu" }, { "type": "dense", "out": 10 } ] }
            """);

        // 60 steps of 64 over 2,048 images: the second epoch draws other augmentations
        string[] common = ["--model", spec, "--augment", "--steps", "60", "--epochs", "2", "--limit", "2048", "--seed", "5"];
        string one = Hash(Train([.. common, "--threads", "1"]));
        string two = Hash(Train([.. common, "--threads", "2"]));
        JsonElement workers = Train([.. common, "--workers", "2"]);
        JsonElement processes = Train([.. common, "--worker-processes", "2", "--worker-threads", "1"]);
        string plain = Hash(Train(["--model", spec, "--steps", "60", "--epochs", "2", "--limit", "2048", "--seed", "5"]));
        output.WriteLine($"--augment, dropout: {one}; without --augment: {plain}");

        Assert.Equal(one, two);
        Assert.Equal(one, Hash(workers));
        Assert.Equal("cluster", workers.GetProperty("mode").GetString());
        Assert.Equal(one, Hash(processes));
        Assert.NotEqual(one, plain);
    }
}
