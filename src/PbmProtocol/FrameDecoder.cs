namespace CnnCluster.PbmProtocol;

/// <summary>One direction of a connection: the bytes as they come, cut into messages as whole frames arrive.</summary>
public sealed class FrameDecoder
{
    private byte[] _buffer = new byte[16 * 1024];
    private int _length;

    /// <summary>Appends <paramref name="data"/> and takes every whole frame off the front; frames above <paramref name="maxFrame"/> are refused at their length prefix.</summary>
    public List<IPbmMessage> Decode(ReadOnlySpan<byte> data, int maxFrame = Framing.MaxFrame)
    {
        Framing.Append(ref _buffer, ref _length, data);
        return Framing.Decode(ref _buffer, ref _length, maxFrame);
    }
}
