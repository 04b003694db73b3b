using System.Runtime.InteropServices;
using System.Security.Cryptography;
using CnnCluster.Engine.Kernels;
using CnnCluster.Engine.Layers;
using CnnCluster.Engine.Models;
using CnnCluster.Engine.Tensors;
using Xunit;

namespace CnnCluster.Engine.Tests;

/// <summary>
/// The numeric contract's bits, written down. Every other test compares results within one process;
/// these compare with values computed once (on an AVX2 machine), so a machine, an instruction set or a
/// .NET version that computes other bits fails here, and scripts/test.sh runs them under narrower
/// instruction sets too. A change to the engine that changes them on purpose changes
/// <see cref="NumericContract.Version"/> with them.
/// </summary>
public sealed class NumericContractGoldenTests
{
    [Fact]
    public void TheContractVersionIsTheOneTheseValuesBelongTo() => Assert.Equal(4, NumericContract.Version);

    [Theory]
    [InlineData("exp", "81206e285b290baa0ea00cf74b3b73f7f1c3809778045fbcdb11c517d30e6011")]
    [InlineData("log", "0b0d3b4b527bd0c6b01ccde81eb7b5454f0b1b31248a6bfcfaa16ddefc628a19")]
    [InlineData("tanh", "a8bd2e57305ba88868495432acf1faf7c6deedc17a84ea0a2bbfe5f6f3b6b2e0")]
    [InlineData("sigmoid", "d101a1a0d422bcf5d76aa6d91e99dd9fc67da42a05506a2b299e5d7a846602a0")]
    [InlineData("sum", "007661cf4de848787ee39830cd81366b8546898331410489aae53190c35af4a0")]
    public void TheTranscendentalsAndSumsHaveTheContractsBits(string function, string expected)
    {
        var rng = new Rng(0x601D);
        var x = new float[65_537];
        for (int i = 0; i < x.Length; i++)
        {
            // half random bit patterns over the whole range, half values where training lives
            x[i] = i % 2 == 0 ? BitConverter.Int32BitsToSingle((int)(uint)rng.NextUInt64()) : (float)((rng.NextDouble() - 0.5) * 40);
        }

        var y = new float[x.Length];
        switch (function)
        {
            case "exp": FloatMath.Exp(x, y); break;
            case "log": FloatMath.Log(x, y); break;
            case "tanh": FloatMath.Tanh(x, y); break;
            case "sigmoid": FloatMath.Sigmoid(x, y); break;
            default:
                float[] finite = [.. x.Where(float.IsFinite).Select(v => v % 1000f)];
                for (int n = 0; n < y.Length; n++)
                {
                    y[n] = Reduce.Sum(finite.AsSpan(0, n % finite.Length));
                }

                break;
        }

        string actual = Hash(y);
        Assert.True(actual == expected, $"{function} on this machine ({NumericContract.Instructions}): {actual}, the contract's {expected}");
    }

    /// <summary>
    /// The bouvrie preset as it was until its penalty became the entropy: the article's L1 penalty, λ 1e-3.
    /// Its value is the one the contract was written down with, so the L1 path keeps its bits. The
    /// "bouvrie" value below is the preset's since then (entropy, λ 0.05; computed on AVX2): another
    /// network, not other arithmetic for the same one, so the contract's version stays.
    /// </summary>
    internal static ModelSpec BouvrieL1 { get; } = Presets.Bouvrie with
    {
        Layers = [.. Presets.Bouvrie.Layers.Select(l => l.Type == "mapcombination" ? l with { Penalty = SparsityPenalty.L1, Sparsity = 1e-3f } : l)],
    };

    [Theory]
    [InlineData("lenet5", "3ba1f6c9d52ecabb7ce2136aa3e181e9d0bcb0585eaeaa2ddf489df4f34e016f")]
    [InlineData("bouvrie-l1", "3e05d0e347bdd4233d032a9f72451ccb88eef56a172a9b1ad8be6cf6056855fd")]
    [InlineData("bouvrie", "1cd7b2397268327e08bb99d20c2bc1944b49f0b4b8d0e652ee2f983b92938c27")]
    public void TwelveStepsOfTrainingHaveTheContractsBits(string model, string expected)
    {
        string actual = DeterminismTests.Train(model == "bouvrie-l1" ? BouvrieL1 : Presets.Find(model)!, threads: 1, batch: 64, shard: 8, seed: 3);
        Assert.True(actual == expected, $"{model} on this machine ({NumericContract.Instructions}): {actual}, the contract's {expected}");
    }

    /// <summary>
    /// Version 4's noise (3's, with half the augmented images left as they are): convnet's dropout masks and
    /// the augmentation draws, on 2 threads (6 steps of 8 images keep the run without SIMD,
    /// DOTNET_EnableHWIntrinsic=0, near 10 s).
    /// </summary>
    [Fact]
    public void SixAugmentedStepsOfConvNetHaveTheContractsBits()
    {
        const string expected = "88c372f706d820a1d183956747e324a72713647d83073f89a6571f71a197229d";
        string actual = DeterminismTests.Train("convnet", threads: 2, batch: 8, shard: 4, seed: 3, augment: true, steps: 6);
        Assert.True(actual == expected, $"convnet on this machine ({NumericContract.Instructions}): {actual}, the contract's {expected}");
    }

    private static string Hash(float[] values) => Convert.ToHexStringLower(SHA256.HashData(MemoryMarshal.AsBytes(values.AsSpan())));
}
