using Akka.Actor;
using CnnCluster.Shared.Pbm;
using CnnCluster.Shared.Protocol;

namespace CnnCluster.Coordinator.Pbm;

/// <summary>Asks the run registry (through its singleton proxy) and turns refusals and silence into command errors.</summary>
public sealed class RegistryClient(IActorRef registry)
{
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(15);

    public IActorRef Registry => registry;

    public async Task<T> Ask<T>(object message, CancellationToken cancellation)
    {
        object answer;
        try
        {
            answer = await registry.Ask<object>(message, Timeout, cancellation);
        }
        catch (AskTimeoutException)
        {
            throw new CommandException($"the coordinator did not answer within {Timeout.TotalSeconds:F0} s (is a coordinator node up?)");
        }

        return answer switch
        {
            T t => t,
            RunRejected r => throw new CommandException(r.Reason),
            Status.Failure f => throw new CommandException(f.Cause.Message),
            _ => throw new CommandException($"unexpected answer {answer.GetType().Name}"),
        };
    }
}
