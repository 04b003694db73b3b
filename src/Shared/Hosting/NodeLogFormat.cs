using System.Globalization;
using System.Text.RegularExpressions;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Logging.Console;
using Microsoft.Extensions.Options;

namespace CnnCluster.Shared.Hosting;

/// <summary>
/// One log format for every node: `2026-11-30T12:41:17.462Z INFO  /user/run-registry/…: message`, one line per
/// entry. Akka's messages reach Microsoft.Extensions.Logging already prefixed with Akka's own
/// `[INFO][time][Thread n][source]`, which the simple console formatter would print after its own prefix (two
/// prefixes); this formatter takes the source from Akka's prefix and prints the message once. An exception is
/// its type and message on the same line (the stack trace only at Debug level).
/// </summary>
public sealed partial class NodeLogFormat() : ConsoleFormatter(Name)
{
    public new const string Name = "cnncluster";

    /// <summary>Replaces the console loggers with this format, to stderr when <paramref name="toStandardError"/> (stdout carries results).</summary>
    public static void Use(ILoggingBuilder logging, bool toStandardError)
    {
        logging.ClearProviders();
        logging.AddConsole(o => o.FormatterName = Name);
        logging.AddConsoleFormatter<NodeLogFormat, ConsoleFormatterOptions>();
        if (toStandardError)
        {
            logging.Services.Configure<ConsoleLoggerOptions>(o => o.LogToStandardErrorThreshold = LogLevel.Trace);
        }
    }

    public override void Write<TState>(in LogEntry<TState> entry, IExternalScopeProvider? scopeProvider, TextWriter writer)
    {
        string text = entry.Formatter(entry.State, entry.Exception) ?? string.Empty;
        (string source, string message, DateTime? at) = Split(entry.Category, text);
        writer.Write((at ?? DateTime.UtcNow).ToString("yyyy-MM-dd'T'HH:mm:ss.fff'Z'", CultureInfo.InvariantCulture));
        writer.Write(' ');
        writer.Write(Level(entry.LogLevel));
        writer.Write(' ');
        writer.Write(source);
        writer.Write(": ");
        writer.Write(message.ReplaceLineEndings(" "));
        if (entry.Exception is { } e)
        {
            writer.Write($" ({e.GetType().Name}: {e.Message.ReplaceLineEndings(" ")})");
            if (entry.LogLevel == LogLevel.Debug)
            {
                writer.Write(' ');
                writer.Write(e.StackTrace?.ReplaceLineEndings(" | "));
            }
        }

        writer.Write(Environment.NewLine);
    }

    /// <summary>
    /// The source, message and time of an entry: an Akka message's own prefix gives its source (the actor path
    /// without the address) and the time the event happened (null otherwise: the time it is written).
    /// </summary>
    internal static (string Source, string Message, DateTime? At) Split(string category, string text)
    {
        Match akka = AkkaPrefix().Match(text);
        if (!akka.Success)
        {
            return (category, text, null);
        }

        string source = akka.Groups["source"].Value;
        int path = source.IndexOf("/user/", StringComparison.Ordinal) is int u and >= 0 ? u : source.IndexOf("/system/", StringComparison.Ordinal);
        DateTime? at = DateTime.TryParseExact(akka.Groups["time"].Value, "MM/dd/yyyy HH:mm:ss.FFFFFFF'Z'", CultureInfo.InvariantCulture, DateTimeStyles.AdjustToUniversal | DateTimeStyles.AssumeUniversal, out DateTime t) ? t : null;
        return (path >= 0 ? source[path..] : source, akka.Groups["message"].Value, at);
    }

    private static string Level(LogLevel level) => level switch
    {
        LogLevel.Trace => "TRACE",
        LogLevel.Debug => "DEBUG",
        LogLevel.Information => "INFO ",
        LogLevel.Warning => "WARN ",
        LogLevel.Error => "ERROR",
        _ => "FATAL",
    };

    [GeneratedRegex(@"\A\[[A-Z]+\]\[(?<time>[^\]]*)\]\[Thread [0-9]+\]\[(?<source>[^\]]*)\] ?(?<message>.*)\z", RegexOptions.Singleline)]
    private static partial Regex AkkaPrefix();
}
