using MessagePack;

namespace CnnCluster.PbmProtocol;

/// <summary>
/// The pbm wire protocol (DESIGN §6): each frame is a 4-byte big-endian length and a MessagePack body
/// holding one of these messages (a union, so the body says which). The client sends a hello, the
/// node answers with its palettes, then each command streams output lines and ends with a result;
/// the client may cancel a running command (its result is then exit code 130, "cancelled").
/// </summary>
[Union(0, typeof(Hello))]
[Union(1, typeof(Welcome))]
[Union(2, typeof(Refused))]
[Union(3, typeof(RunCommand))]
[Union(4, typeof(Output))]
[Union(5, typeof(FileChunk))]
[Union(6, typeof(CommandResult))]
[Union(7, typeof(CancelCommand))]
public interface IPbmMessage
{
}

/// <summary>Client → node: first frame; the token when the node sets PBM_TOKEN.</summary>
[MessagePackObject]
public sealed record Hello([property: Key(0)] string ClientVersion, [property: Key(1)] string? Token) : IPbmMessage;

/// <summary>Node → client: who it is and the palettes it serves.</summary>
[MessagePackObject]
public sealed record Welcome([property: Key(0)] string Node, [property: Key(1)] PaletteInfo[] Palettes) : IPbmMessage;

/// <summary>Node → client: the connection is refused (e.g. a wrong token); the node closes it.</summary>
[MessagePackObject]
public sealed record Refused([property: Key(0)] string Reason) : IPbmMessage;

/// <summary>Client → node: run one command (palette, command, raw arguments).</summary>
[MessagePackObject]
public sealed record RunCommand([property: Key(0)] int Id, [property: Key(1)] string Palette, [property: Key(2)] string Command, [property: Key(3)] string[] Arguments) : IPbmMessage;

/// <summary>Node → client: one line of a command's output.</summary>
[MessagePackObject]
public sealed record Output([property: Key(0)] int Id, [property: Key(1)] string Text) : IPbmMessage;

/// <summary>Node → client: a piece of a file the client writes (e.g. an exported model); Last closes it.</summary>
[MessagePackObject]
public sealed record FileChunk([property: Key(0)] int Id, [property: Key(1)] string Path, [property: Key(2)] byte[] Bytes, [property: Key(3)] bool Last) : IPbmMessage;

/// <summary>Node → client: the command ended; exit code 0 on success, else an error line.</summary>
[MessagePackObject]
public sealed record CommandResult([property: Key(0)] int Id, [property: Key(1)] int ExitCode, [property: Key(2)] string? Error) : IPbmMessage;

/// <summary>Client → node: cancel the running command <paramref name="Id"/> (Ctrl-C); the node answers with its result, 130 "cancelled", at once.</summary>
[MessagePackObject]
public sealed record CancelCommand([property: Key(0)] int Id) : IPbmMessage;

/// <summary>A palette: a named group of commands.</summary>
[MessagePackObject]
public sealed record PaletteInfo([property: Key(0)] string Name, [property: Key(1)] string Description, [property: Key(2)] CommandInfo[] Commands);

/// <summary>A command with its switches.</summary>
[MessagePackObject]
public sealed record CommandInfo([property: Key(0)] string Name, [property: Key(1)] string Description, [property: Key(2)] SwitchInfo[] Switches);

/// <summary>A switch: -s / --long, whether it is mandatory, whether it takes a value.</summary>
[MessagePackObject]
public sealed record SwitchInfo(
    [property: Key(0)] string Long,
    [property: Key(1)] string? Short,
    [property: Key(2)] string Description,
    [property: Key(3)] bool Mandatory,
    [property: Key(4)] bool IsFlag);
