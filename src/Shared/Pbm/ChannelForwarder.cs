using System.Threading.Channels;
using Akka.Actor;

namespace CnnCluster.Shared.Pbm;

/// <summary>
/// A throw-away actor that writes every message it receives into a channel, so a streaming command
/// (cluster tail, train tail) can subscribe to actor events and read them with await.
/// </summary>
public sealed class ChannelForwarder : ReceiveActor
{
    public ChannelForwarder(ChannelWriter<object> writer) => ReceiveAny(m => writer.TryWrite(m));

    public static Props Props(ChannelWriter<object> writer) => Akka.Actor.Props.Create(() => new ChannelForwarder(writer));
}
