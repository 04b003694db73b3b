using CnnCluster.Engine.Data;
using CnnCluster.Engine.Losses;
using CnnCluster.Engine.Models;

namespace CnnCluster.Engine.Training;

/// <summary>Mean loss and accuracy of parameters on a data set, in fixed chunks over T threads.</summary>
public sealed class Evaluator
{
    private const int Chunk = 100;
    private readonly Workspace[] _workspaces;

    public Evaluator(Network network, int threads)
    {
        _workspaces = Enumerable.Range(0, Math.Max(1, threads)).Select(_ => new Workspace(network, Chunk)).ToArray();
    }

    public (double Loss, double Accuracy) Evaluate(float[] parameters, LabeledImages data)
    {
        int chunks = (data.Count + Chunk - 1) / Chunk;
        var losses = new double[chunks];
        var correct = new int[chunks];
        int next = -1;

        void Run(int t)
        {
            Workspace ws = _workspaces[t];
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

        Parallel.For(0, _workspaces.Length, new ParallelOptions { MaxDegreeOfParallelism = _workspaces.Length }, Run);

        // summed in chunk order, so the figure does not depend on the thread count
        double loss = 0;
        foreach (double l in losses)
        {
            loss += l;
        }

        return (loss / data.Count, (double)correct.Sum() / data.Count);
    }
}
