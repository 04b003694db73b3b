using CnnCluster.Coordinator.Pbm;
using CnnCluster.Coordinator.Telemetry;
using CnnCluster.Shared.Naming;
using CnnCluster.Shared.Pbm;
using CnnCluster.Shared.Protocol;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;

namespace CnnCluster.Coordinator.Web;

/// <summary>
/// The dashboard's JSON under /api/, asked of the run registry as pbm's palettes ask it (<see cref="RegistryClient"/>):
/// runs, one run's status, history and snapshots, and the workers with the coordinator's recent step phases.
/// Figures that are not numbers (NaN: not measured yet) are null. A refusal or silence of the registry is
/// {"error": "..."} with 404 (a run's) or 503.
/// </summary>
public static class ApiEndpoints
{
    /// <summary>A history's curve keeps at most this many steps (evenly spread, the last one always): a long run stays a small answer.</summary>
    public const int MaxCurvePoints = 1000;

    public static void MapApi(this IEndpointRouteBuilder app, ClusterView view)
    {
        RouteGroupBuilder api = app.MapGroup("/api");
        api.MapGet("/runs", (CancellationToken c) => Ask(view, 503, async registry =>
        {
            // only live runs are asked for their status: asking an ended one would wake its actor from the journal at
            // every poll (its last step and accuracy come with the list, from the registry's journal)
            RunList list = await registry.Ask<RunList>(new ListRuns(), c);
            var runs = await Task.WhenAll(list.Runs.Select(async r => RunOutcomes.ParsePhase(r.Status)?.IsLive() == true
                ? Status(await registry.Ask<RunStatus>(new RunStatusRequest(r.RunId), c), r.ForkedFrom)
                  : (object)new { id = r.RunId, model = r.Model, state = r.Status, step = r.Step, totalSteps = (long?)null, loss = (double?)null, testAccuracy = r.TestAccuracy is double a ? Number(a) : null, workers = (int?)null, reason = (string?)null, forkedFrom = r.ForkedFrom }));
            return new { runs };
        }));
        api.MapGet("/runs/{id}", (string id, CancellationToken c) => AskRun(view, id, async registry =>
            Status(await registry.Ask<RunStatus>(new RunStatusRequest(id), c), null)));
        api.MapGet("/runs/{id}/history", (string id, CancellationToken c) => AskRun(view, id, async registry =>
        {
            RunHistory h = await registry.Ask<RunHistory>(new RunHistoryRequest(id), c);
            int stride = Math.Max(1, (h.Steps.Length + MaxCurvePoints - 1) / MaxCurvePoints);
            return new
            {
                id = h.RunId,
                model = h.Config.Model,
                state = h.State,
                totalSteps = h.TotalSteps,
                stepsPerEpoch = h.StepsPerEpoch,
                steps = h.Steps.Where((_, i) => i % stride == 0 || i == h.Steps.Length - 1).Select(s => new { step = s.Step, loss = Number(s.Loss) }),
                epochs = h.Epochs.Select(e => new { epoch = e.Epoch, step = e.Step, trainLoss = Number(e.TrainLoss), testLoss = Number(e.TestLoss), testAccuracy = Number(e.TestAccuracy), imagesPerSecond = Number(e.ImagesPerSecond) }),
                ended = h.Ended is { } end ? new { status = end.Status, step = end.Step, reason = end.Reason } : null,
            };
        }));
        api.MapGet("/runs/{id}/snapshots", (string id, CancellationToken c) => AskRun(view, id, async registry =>
        {
            SnapshotList list = await registry.Ask<SnapshotList>(new ListSnapshots(id), c);
            return new { id = list.RunId, snapshots = list.Snapshots.Select(s => new { sequenceNr = s.SequenceNr, step = s.Step, bytes = s.Bytes, time = s.Timestamp, checksum = s.Checksum }) };
        }));
        api.MapGet("/workers", (CancellationToken c) => Ask(view, 503, async registry =>
        {
            WorkerList list = await registry.Ask<WorkerList>(new ListWorkers(), c);
            return new
            {
                workers = list.Workers.Select(w => new { address = w.Address, threads = w.Threads, instructions = w.Instructions, shardsDone = w.ShardsDone < 0 ? (long?)null : w.ShardsDone, lastStepMs = Number(w.LastStepMilliseconds), refused = w.Refused }),
                phasesMs = ClusterMeters.RecentPhaseMilliseconds(),
            };
        }));
    }

    private static object Status(RunStatus s, string? forkedFrom) => new
    {
        id = s.RunId, model = s.Model, state = s.State, step = (long?)s.Step, totalSteps = (long?)s.TotalSteps,
        loss = s.Loss is double l ? Number(l) : null, testAccuracy = s.TestAccuracy is double a ? Number(a) : null,
        workers = (int?)s.Workers, reason = s.Reason, forkedFrom,
    };

    private static double? Number(double x) => double.IsFinite(x) ? x : null;

    private static Task<IResult> AskRun<T>(ClusterView view, string id, Func<RegistryClient, Task<T>> ask) =>
        RunIds.Problem(id) is string problem ? Task.FromResult(Results.Json(new { error = problem }, statusCode: 400)) : Ask(view, 404, ask);

    private static async Task<IResult> Ask<T>(ClusterView view, int refusedStatus, Func<RegistryClient, Task<T>> ask)
    {
        if (!view.TryGet(out _, out RegistryClient registry))
        {
            return Results.Json(new { error = "the node is starting" }, statusCode: 503);
        }

        try
        {
            return Results.Json(await ask(registry));
        }
        catch (CommandException e)
        {
            return Results.Json(new { error = e.Message }, statusCode: refusedStatus);
        }
    }
}
