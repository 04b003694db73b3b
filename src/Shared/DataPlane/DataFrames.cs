using System.Buffers;
using System.Collections.Frozen;
using System.Buffers.Binary;
using System.IO.Pipelines;
using CnnCluster.Engine.Training;
using CnnCluster.Shared.Protocol;
using CnnCluster.Shared.Serialization;
using MessagePack;

namespace CnnCluster.Shared.DataPlane;

/// <summary>What a data-plane frame carries (the byte on the wire; <see cref="DataFrames"/> maps each to its message type).</summary>
public enum FrameKind : byte
{
    /// <summary>Coordinator → worker: a <see cref="WorkAssignment"/> (parameters included; the star).</summary>
    Assignment = 1,

    /// <summary>Worker → coordinator: a <see cref="NodeResult"/> (one node's gradient; the star).</summary>
    Result = 2,

    /// <summary>Worker → coordinator: a <see cref="WorkFailed"/>.</summary>
    Failure = 3,

    /// <summary>Coordinator → worker: a <see cref="ReplicaInit"/> (a replica's whole state).</summary>
    ReplicaInit = 4,

    /// <summary>Coordinator → worker: a <see cref="StepPlan"/>.</summary>
    StepPlan = 5,

    /// <summary>Worker → coordinator: a <see cref="NodeDone"/>.</summary>
    NodeDone = 6,

    /// <summary>Worker → coordinator: a <see cref="StepDone"/>.</summary>
    StepDone = 7,

    /// <summary>Worker → coordinator: a <see cref="ReplicaState"/> (a replica's whole state).</summary>
    ReplicaState = 8,

    /// <summary>Worker → slice owner: a <see cref="SlicePart"/>.</summary>
    SlicePart = 9,

    /// <summary>Slice owner → worker: a <see cref="SliceSum"/>.</summary>
    SliceSum = 10,

    /// <summary>Slice owner → coordinator: a <see cref="PartRefused"/>.</summary>
    PartRefused = 11,

    /// <summary>Worker → worker, a peer link's first frame: a <see cref="PeerHello"/>.</summary>
    PeerHello = 12,

    /// <summary>Worker → worker: a <see cref="PeerChallenge"/>.</summary>
    PeerChallenge = 13,

    /// <summary>Worker → worker: a <see cref="PeerProof"/>.</summary>
    PeerProof = 14,

    /// <summary>Coordinator → worker: a <see cref="PartsAgreed"/> (a checked step).</summary>
    PartsAgreed = 15,

    /// <summary>Worker → coordinator: a <see cref="SumReport"/>.</summary>
    SumReport = 16,

    /// <summary>Coordinator → worker: a <see cref="SumsAgreed"/>.</summary>
    SumsAgreed = 17,

    /// <summary>Coordinator → worker: a <see cref="PartsRequest"/>.</summary>
    PartsRequest = 18,

    /// <summary>Worker → coordinator: a <see cref="PartsReply"/> (a slice's parts).</summary>
    PartsReply = 19,

    /// <summary>Worker → coordinator: a <see cref="ReplicaReady"/>.</summary>
    ReplicaReady = 20,
}

/// <summary>
/// The data plane's wire format (DESIGN §5): after an 8-byte preamble from the connecting side, frames of
/// [length: int32 little-endian][kind: 1 byte][body: our MessagePack encoding, floats as raw
/// little-endian bytes]. The length counts the kind and the body and is checked against the kind's
/// limit (<see cref="MaxBytes"/>: tensors up to <see cref="MaxFrameBytes"/>, everything else
/// <see cref="MaxControlFrameBytes"/>) before anything is allocated or buffered for it.
/// </summary>
public static class DataFrames
{
    /// <summary>"CNNDATA" and the format version.</summary>
    public static ReadOnlySpan<byte> Preamble => "CNNDATA\u0001"u8;

    /// <summary>Large enough for 64 M parameters; a frame announcing more ends the connection.</summary>
    public const int MaxFrameBytes = 1 << 28;

    /// <summary>A frame without a tensor (a plan, a report, a refusal): a plan of the largest batch at shard size 1 fits.</summary>
    public const int MaxControlFrameBytes = 4 << 20;

    /// <summary>The largest frame of <paramref name="kind"/> a reader takes.</summary>
    public static int MaxBytes(FrameKind kind) => kind is FrameKind.Assignment or FrameKind.Result or FrameKind.ReplicaInit or FrameKind.ReplicaState or FrameKind.SlicePart or FrameKind.SliceSum or FrameKind.PartsReply
        ? MaxFrameBytes
        : MaxControlFrameBytes;

    private const int HeaderBytes = 5;

    // the one map between kinds and types, both ways
    private static readonly FrozenDictionary<FrameKind, Type> Types = new Dictionary<FrameKind, Type>
    {
        [FrameKind.Assignment] = typeof(WorkAssignment),
        [FrameKind.Result] = typeof(NodeResult),
        [FrameKind.Failure] = typeof(WorkFailed),
        [FrameKind.ReplicaInit] = typeof(ReplicaInit),
        [FrameKind.StepPlan] = typeof(StepPlan),
        [FrameKind.NodeDone] = typeof(NodeDone),
        [FrameKind.StepDone] = typeof(StepDone),
        [FrameKind.ReplicaState] = typeof(ReplicaState),
        [FrameKind.SlicePart] = typeof(SlicePart),
        [FrameKind.SliceSum] = typeof(SliceSum),
        [FrameKind.PartRefused] = typeof(PartRefused),
        [FrameKind.PeerHello] = typeof(PeerHello),
        [FrameKind.PeerChallenge] = typeof(PeerChallenge),
        [FrameKind.PeerProof] = typeof(PeerProof),
        [FrameKind.PartsAgreed] = typeof(PartsAgreed),
        [FrameKind.SumReport] = typeof(SumReport),
        [FrameKind.SumsAgreed] = typeof(SumsAgreed),
        [FrameKind.PartsRequest] = typeof(PartsRequest),
        [FrameKind.PartsReply] = typeof(PartsReply),
        [FrameKind.ReplicaReady] = typeof(ReplicaReady),
    }.ToFrozenDictionary();

    private static readonly FrozenDictionary<Type, FrameKind> Kinds = Types.ToFrozenDictionary(kv => kv.Value, kv => kv.Key);

    public static FrameKind KindOf(IProtocolMessage message) =>
        Kinds.TryGetValue(message.GetType(), out FrameKind kind) ? kind : throw new ArgumentException($"{message.GetType().Name} does not travel on the data plane");

    /// <summary>True for the frames that carry a replica's whole state (counted apart from a step's traffic).</summary>
    public static bool CarriesState(FrameKind kind) => kind is FrameKind.ReplicaInit or FrameKind.ReplicaState;

    /// <summary>
    /// Encodes <paramref name="message"/> as one frame into <paramref name="output"/> (not flushed).
    /// <paramref name="scratch"/> holds the body while its length is not yet known; reused by the caller.
    /// </summary>
    public static long Write(PipeWriter output, IProtocolMessage message, ArrayBufferWriter<byte> scratch)
    {
        Encode(message, scratch);
        int length = checked(scratch.WrittenCount + 1);
        if (length > MaxFrameBytes)
        {
            throw new InvalidOperationException($"a {message.GetType().Name} of {length} bytes exceeds the data plane's frame limit of {MaxFrameBytes} bytes");
        }

        Span<byte> header = output.GetSpan(HeaderBytes);
        BinaryPrimitives.WriteInt32LittleEndian(header, length);
        FrameKind kind = KindOf(message);
        header[4] = (byte)kind;
        output.Advance(HeaderBytes);
        output.Write(scratch.WrittenSpan);
        long bytes = HeaderBytes + scratch.WrittenCount;
        DataTraffic.Process.Sent(kind, bytes);
        return bytes;
    }

    private static void Encode(IProtocolMessage message, ArrayBufferWriter<byte> scratch)
    {
        scratch.ResetWrittenCount();
        MessagePackSerializer.Serialize(message.GetType(), scratch, message, ProtocolSerializer.Options);
    }

    private static IProtocolMessage? Decode(Type type, ReadOnlySequence<byte> body) =>
        (IProtocolMessage?)MessagePackSerializer.Deserialize(type, body, ProtocolSerializer.Options);

    /// <summary>
    /// Takes one whole frame off the front of <paramref name="buffer"/> if it holds one. Throws
    /// <see cref="InvalidDataException"/> for a frame that is too long, of an unknown kind, or undecodable.
    /// </summary>
    public static bool TryRead(ref ReadOnlySequence<byte> buffer, out IProtocolMessage? message, out long bytes)
    {
        message = null;
        bytes = 0;
        if (buffer.Length < HeaderBytes)
        {
            return false;
        }

        Span<byte> header = stackalloc byte[HeaderBytes];
        buffer.Slice(0, HeaderBytes).CopyTo(header);
        int length = BinaryPrimitives.ReadInt32LittleEndian(header);
        if (length < 1 || length > MaxFrameBytes)
        {
            throw new InvalidDataException($"a data-plane frame announces {length} bytes (limit {MaxFrameBytes})");
        }

        if (Types.TryGetValue((FrameKind)header[4], out Type? announced) && length > MaxBytes((FrameKind)header[4]))
        {
            throw new InvalidDataException($"a {announced.Name} frame announces {length} bytes (limit {MaxBytes((FrameKind)header[4])})");
        }

        if (buffer.Length < 4L + length)
        {
            return false;
        }

        ReadOnlySequence<byte> body = buffer.Slice(HeaderBytes, length - 1);
        if (!Types.TryGetValue((FrameKind)header[4], out Type? type))
        {
            throw new InvalidDataException($"unknown data-plane frame kind {header[4]}");
        }

        try
        {
            message = Decode(type, body) ?? throw new InvalidDataException($"an empty {type.Name} frame");
        }
        catch (MessagePackSerializationException e)
        {
            throw new InvalidDataException($"an undecodable {type.Name} frame: {e.Message}", e);
        }

        bytes = 4L + length;
        buffer = buffer.Slice(bytes);
        return true;
    }

    /// <summary>
    /// Encodes and decodes an empty frame of every kind, once per process at start-up, after every protocol message
    /// (<see cref="ProtocolSerializer.WarmUp"/>), then a state of a small model's size framed, decoded and hashed as a
    /// snapshot step's is: a sharded run's first snapshot step had stalled ~20 ms on first-call costs (code compiled,
    /// the hash library's set-up, buffers grown; later ones ~2 ms). Best effort: a kind that fails here fails again,
    /// in words, when it is sent.
    /// </summary>
    public static void WarmUp()
    {
        _ = ProtocolSerializer.WarmUp();
        var scratch = new ArrayBufferWriter<byte>();
        foreach (Type type in Types.Values)
        {
            try
            {
                Encode((IProtocolMessage)System.Runtime.CompilerServices.RuntimeHelpers.GetUninitializedObject(type), scratch);
                _ = Decode(type, new ReadOnlySequence<byte>(scratch.WrittenMemory));
            }
            catch (MessagePackSerializationException)
            {
            }
        }

        scratch.Clear();
        var state = new ReplicaState("warm-up", 0, 0, new float[ProtocolSerializer.WarmUpParameters], new float[ProtocolSerializer.WarmUpParameters]);
        Encode(state, scratch);
        _ = Decode(typeof(ReplicaState), new ReadOnlySequence<byte>(scratch.WrittenMemory));
        _ = ParameterHash.Of(state.Parameters);
        _ = ParameterHash.OfState(state.Parameters, state.Velocity);
    }

    /// <summary>Reads frames until the peer closes (returns) or sends something malformed (throws).</summary>
    public static async Task ReadAll(PipeReader input, Action<IProtocolMessage, long> onFrame, CancellationToken cancellation)
    {
        while (true)
        {
            ReadResult read = await input.ReadAsync(cancellation).ConfigureAwait(false);
            ReadOnlySequence<byte> buffer = read.Buffer;
            try
            {
                while (TryRead(ref buffer, out IProtocolMessage? message, out long bytes))
                {
                    DataTraffic.Process.Received(KindOf(message!), bytes);
                    onFrame(message!, bytes);
                }
            }
            finally
            {
                input.AdvanceTo(buffer.Start, buffer.End);
            }

            if (read.IsCompleted || read.IsCanceled)
            {
                return;
            }
        }
    }

    /// <summary>Reads and checks the connecting side's preamble.</summary>
    public static async Task ExpectPreamble(PipeReader input, CancellationToken cancellation)
    {
        while (true)
        {
            ReadResult read = await input.ReadAsync(cancellation).ConfigureAwait(false);
            if (read.Buffer.Length >= Preamble.Length)
            {
                byte[] head = read.Buffer.Slice(0, Preamble.Length).ToArray();
                input.AdvanceTo(read.Buffer.GetPosition(head.Length));
                if (!head.AsSpan().SequenceEqual(Preamble))
                {
                    throw new InvalidDataException("not a CnnCluster data-plane client (wrong preamble)");
                }

                return;
            }

            input.AdvanceTo(read.Buffer.Start, read.Buffer.End);
            if (read.IsCompleted)
            {
                throw new InvalidDataException("the peer closed before its preamble");
            }
        }
    }
}
