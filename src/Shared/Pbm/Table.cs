using System.Text.Json;
using CnnCluster.PbmProtocol;

namespace CnnCluster.Shared.Pbm;

/// <summary>A column of a <see cref="Table{T}"/>: its header, the text of a cell, and the value scripts get with --json.</summary>
public sealed record Column<T>(string Header, Func<T, string> Cell, Func<T, object?> Json);

/// <summary>
/// How every list and status command prints: a header row and `a | b | c` rows, then a count line; or, with
/// --json, one line holding one JSON object (`{"nodes":[{…},…]}`) whose fields are named as the headers.
/// </summary>
public sealed class Table<T>(string noun, params Column<T>[] columns)
{
    public void Write(ParsedCommand command, ICommandOutput output, IReadOnlyCollection<T> items, string? count = null)
    {
        if (command.Has("json"))
        {
            var rows = items.Select(item => columns.ToDictionary(c => JsonName(c.Header), c => c.Json(item))).ToArray();
            output.Line(JsonSerializer.Serialize(new Dictionary<string, object> { [noun] = rows }));
            return;
        }

        output.Line(string.Join(" | ", columns.Select(c => c.Header.ToUpperInvariant())));
        foreach (T item in items)
        {
            output.Line(string.Join(" | ", columns.Select(c => c.Cell(item))));
        }

        output.Line(count ?? $"Count: {items.Count} {noun}");
    }

    private static string JsonName(string header) => header.ToLowerInvariant().Replace(' ', '_');
}

/// <summary>One object as one line of JSON, fields in snake_case (as the `train` summary line), for --json.</summary>
public static class JsonOutput
{
    /// <summary>The switch every list and status command takes.</summary>
    public static SwitchInfo Switch { get; } = Describe.Flag("json", null, "one JSON object instead of the table, for scripts");

    private static readonly JsonSerializerOptions Options = new() { PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower };

    public static string Of(object value) => JsonSerializer.Serialize(value, value.GetType(), Options);
}
