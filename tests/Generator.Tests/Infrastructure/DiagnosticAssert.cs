using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.Text;

namespace Qwen3Gen.Generator.Tests.Infrastructure;

/// <summary>Asserts one generator diagnostic: its id, severity, where it is (span and line) and its message.</summary>
public static class DiagnosticAssert
{
    /// <summary>The only diagnostic of <paramref name="id"/> the generator reported.</summary>
    public static Diagnostic Single(GeneratorRun run, string id)
    {
        var matches = run.GeneratorDiagnostics.Where(d => d.Id == id).ToList();
        Assert.True(matches.Count == 1,
            $"expected one {id}, got {matches.Count}; all: " + string.Join(" | ", run.GeneratorDiagnostics.Select(d => d.ToString())));
        return matches[0];
    }

    /// <summary>
    /// Asserts <paramref name="id"/> is reported once, located exactly on <paramref name="fragment"/> (which must
    /// occur once in <paramref name="source"/>, starting <paramref name="skip"/> characters in), with this message.
    /// </summary>
    public static Diagnostic Reported(GeneratorRun run, string source, string id, DiagnosticSeverity severity,
                                      string fragment, string message, int skip = 0)
    {
        var d = Single(run, id);
        int start = source.IndexOf(fragment, StringComparison.Ordinal);
        Assert.True(start >= 0 && start == source.LastIndexOf(fragment, StringComparison.Ordinal), $"'{fragment}' must occur once in the test source");
        start += skip;
        int line = source.Take(start).Count(c => c == '\n');               // 0-based, as Roslyn counts

        Assert.Equal(severity, d.Severity);
        Assert.Equal(message, d.GetMessage(System.Globalization.CultureInfo.InvariantCulture));
        Assert.Equal(GeneratorHarness.SourcePath, d.Location.SourceTree?.FilePath ?? d.Location.GetLineSpan().Path);
        Assert.Equal(new TextSpan(start, fragment.Length - skip), d.Location.SourceSpan);
        Assert.Equal(line, d.Location.GetLineSpan().StartLinePosition.Line);
        Assert.Equal($"https://github.com/qwen3gen/qwen3gen/blob/main/docs/diagnostics/{id}.md", d.Descriptor.HelpLinkUri);
        return d;
    }
}
