using System.Net.Sockets;
using CnnCluster.PbmProtocol;
using Xunit;

namespace CnnCluster.Coordinator.Tests;

/// <summary>Frames off a socket, one message at a time.</summary>
public sealed class FrameReader(NetworkStream stream)
{
    private readonly Queue<IPbmMessage> _messages = new();
    private byte[] _buffer = new byte[64 * 1024];
    private int _length;

    public IPbmMessage Next()
    {
        var chunk = new byte[64 * 1024];
        while (_messages.Count == 0)
        {
            int n = stream.Read(chunk);
            Assert.True(n > 0, "the node closed the connection");
            Framing.Append(ref _buffer, ref _length, chunk.AsSpan(0, n));
            Framing.Decode(ref _buffer, ref _length).ForEach(_messages.Enqueue);
        }

        return _messages.Dequeue();
    }

    /// <summary>The result of command <paramref name="id"/>, skipping what comes before it.</summary>
    public CommandResult NextResult(int id) => (CommandResult)Until(id)[^1];

    /// <summary>Every message up to and including the result of command <paramref name="id"/>.</summary>
    public List<IPbmMessage> Until(int id)
    {
        var messages = new List<IPbmMessage>();
        while (messages.Count == 0 || messages[^1] is not CommandResult r || r.Id != id)
        {
            messages.Add(Next());
        }

        return messages;
    }
}
