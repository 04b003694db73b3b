using System.Buffers;
using System.Buffers.Binary;
using MessagePack;

namespace CnnCluster.PbmProtocol;

/// <summary>A frame that breaks the protocol: the connection is closed.</summary>
public sealed class FramingException(string message) : Exception(message);

/// <summary>
/// Length-prefixed MessagePack frames: 4 bytes big-endian length, then the body. A reader keeps what
/// it has not parsed yet (half frames wait for the rest); a length above <see cref="MaxFrame"/> or a
/// body that is not a protocol message is a <see cref="FramingException"/>.
/// </summary>
public static class Framing
{
    /// <summary>The largest frame either side accepts (file chunks are 256 KiB).</summary>
    public const int MaxFrame = 1 << 20;

    public const int FileChunkSize = 256 * 1024;

    public static readonly MessagePackSerializerOptions Options = MessagePackSerializerOptions.Standard.WithSecurity(MessagePackSecurity.UntrustedData);

    public static byte[] Encode(IPbmMessage message)
    {
        byte[] body = MessagePackSerializer.Serialize(message, Options);
        var frame = new byte[4 + body.Length];
        BinaryPrimitives.WriteInt32BigEndian(frame, body.Length);
        body.CopyTo(frame, 4);
        return frame;
    }

    /// <summary>The largest frame a node accepts before the client's hello (a hello is a few hundred bytes).</summary>
    public const int MaxHelloFrame = 16 * 1024;

    /// <summary>Takes every whole frame off the front of <paramref name="buffer"/>.</summary>
    public static List<IPbmMessage> Decode(ref byte[] buffer, ref int length) => Decode(ref buffer, ref length, MaxFrame);

    /// <summary>As <see cref="Decode(ref byte[], ref int)"/>, with frames above <paramref name="maxFrame"/> refused at their length prefix.</summary>
    public static List<IPbmMessage> Decode(ref byte[] buffer, ref int length, int maxFrame)
    {
        var messages = new List<IPbmMessage>();
        int offset = 0;
        while (length - offset >= 4)
        {
            int size = BinaryPrimitives.ReadInt32BigEndian(buffer.AsSpan(offset));
            if (size <= 0 || size > maxFrame)
            {
                throw new FramingException($"frame length {size} is outside 1..{maxFrame}");
            }

            if (length - offset - 4 < size)
            {
                break;
            }

            try
            {
                messages.Add(MessagePackSerializer.Deserialize<IPbmMessage>(new ReadOnlyMemory<byte>(buffer, offset + 4, size), Options));
            }
            catch (MessagePackSerializationException e)
            {
                throw new FramingException($"a frame is not a pbm message: {e.Message}");
            }

            offset += 4 + size;
        }

        if (offset > 0)
        {
            Buffer.BlockCopy(buffer, offset, buffer, 0, length - offset);
            length -= offset;
        }

        return messages;
    }

    /// <summary>Appends received bytes, growing the buffer up to one frame plus its header.</summary>
    public static void Append(ref byte[] buffer, ref int length, ReadOnlySpan<byte> data)
    {
        if (length + data.Length > buffer.Length)
        {
            if (length + data.Length > MaxFrame + 4 + buffer.Length)
            {
                throw new FramingException("too much unframed data");
            }

            Array.Resize(ref buffer, Math.Max(buffer.Length * 2, length + data.Length));
        }

        data.CopyTo(buffer.AsSpan(length));
        length += data.Length;
    }
}
