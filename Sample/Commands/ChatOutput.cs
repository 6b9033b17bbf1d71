using Qwen3Gen.Inference;
using Spectre.Console;

namespace Qwen3Gen.Sample.Commands;

/// <summary>
/// Writes streamed reply chunks. On a terminal thinking is grey (Spectre markup); otherwise every thinking line starts
/// with "[thinking] " so piped output can be told apart (and grepped). Notices go to stderr.
/// </summary>
internal sealed class ChatOutput(TextWriter output, TextWriter error, bool terminal, bool hideThinking)
{
    public const string ThinkingPrefix = "[thinking] ";

    private ChatChunkKind? _last;
    private bool _lineStart = true;

    /// <summary>Starts a new reply.</summary>
    public void Begin()
    {
        _last = null;
        _lineStart = true;
    }

    public void Write(ChatChunk chunk)
    {
        switch (chunk.Kind)
        {
            case ChatChunkKind.Notice:
                EndLine();
                if (terminal) AnsiConsole.MarkupLine($"[yellow]{Markup.Escape(chunk.Text)}[/]");
                else error.WriteLine(chunk.Text);
                return;
            case ChatChunkKind.Thinking when hideThinking:
                return;
            case ChatChunkKind.Thinking:
                if (terminal) AnsiConsole.Markup($"[grey]{Markup.Escape(chunk.Text)}[/]");
                else WritePrefixed(chunk.Text);
                break;
            default:
                if (_last == ChatChunkKind.Thinking) { EndLine(); if (terminal) output.WriteLine(); }
                Raw(chunk.Text);
                break;
        }
        _last = chunk.Kind;
        output.Flush();
    }

    /// <summary>Ends the reply with a newline (unless the text already ended a line).</summary>
    public void End()
    {
        EndLine();
        output.Flush();
    }

    private void WritePrefixed(string text)
    {
        int start = 0;
        while (start < text.Length)
        {
            if (_lineStart) output.Write(ThinkingPrefix);
            int nl = text.IndexOf('\n', start);
            int end = nl < 0 ? text.Length : nl + 1;
            Raw(text[start..end]);
            start = end;
        }
    }

    private void Raw(string text)
    {
        if (text.Length == 0) return;
        if (terminal) AnsiConsole.Write(new Text(text));
        else output.Write(text);
        _lineStart = text[^1] == '\n';
    }

    private void EndLine()
    {
        if (_lineStart) return;
        if (terminal) AnsiConsole.WriteLine();
        else output.WriteLine();
        _lineStart = true;
    }
}
