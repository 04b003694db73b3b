using CnnCluster.Engine.Data;
using CnnCluster.Engine.Losses;
using CnnCluster.Engine.Models;

namespace CnnCluster.Engine.Training;

/// <summary>Mean loss and accuracy of parameters on a data set, in fixed chunks over T threads.</summary>
public sealed class Evaluator
{
    private const int Chunk = 100;
    private readonly Network _network;
    private readonly int _threads;

    /// <summary>
    /// The workspaces (a chunk of activations per thread: 7 MB for LeNet-5 on 2 threads) live for one
    /// evaluation only: a coordinator holds an evaluator per run, evaluates once an epoch, and a
    /// long-lived one must not keep megabytes per run it ever had. Made once an epoch, they cost nothing.
    /// </summary>
    public Evaluator(Network network, int threads)
    {
        _network = network;
        _threads = Math.Max(1, threads);
    }

    public (double Loss, double Accuracy) Evaluate(float[] parameters, LabeledImages data)
    {
        Workspace[] workspaces = Enumerable.Range(0, Math.Min(_threads, Math.Max(1, (data.Count + Chunk - 1) / Chunk))).Select(_ => new Workspace(_network, Chunk)).ToArray();
        int chunks = (data.Count + Chunk - 1) / Chunk;
        var losses = new double[chunks];
        var correct = new int[chunks];
        int next = -1;

        void Run(int t)
        {
            Workspace ws = workspaces[t];
            int classes = ws.Network.Classes;
            int c;
            while ((c = Interlocked.Increment(ref next)) < chunks)
            {
                int first = c * Chunk, n = Math.Min(Chunk, data.Count - first);
                ws.LoadRange(data, first, n);
                losses[c] = ws.Loss(parameters, n);
                ReadOnlySpan<float> output = ws.Output(n);
                ReadOnlySpan<int> labels = ws.Labels(n);
                for (int s = 0; s < n; s++)
                {
                    if (LossHeads.ArgMax(output.Slice(s * classes, classes)) == labels[s])
                    {
                        correct[c]++;
                    }
                }
            }
        }

        Parallel.For(0, workspaces.Length, new ParallelOptions { MaxDegreeOfParallelism = workspaces.Length }, Run);

        // summed in chunk order, so the figure does not depend on the thread count
        double loss = 0;
        foreach (double l in losses)
        {
            loss += l;
        }

        return (loss / data.Count, (double)correct.Sum() / data.Count);
    }
}
