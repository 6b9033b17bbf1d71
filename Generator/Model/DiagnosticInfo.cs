using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.Text;

namespace Qwen3Gen.Generator.Model;

/// <summary>A diagnostic with its location stored as plain values, so it can live in cached pipeline data.</summary>
internal sealed record DiagnosticInfo(string Id, string FilePath, TextSpan Span, LinePositionSpan LineSpan, EquatableArray<string> Arguments)
{
    public static DiagnosticInfo Create(DiagnosticDescriptor descriptor, Location? location, params object[] args)
    {
        var strings = new string[args.Length];
        for (int i = 0; i < args.Length; i++) strings[i] = System.Convert.ToString(args[i], System.Globalization.CultureInfo.InvariantCulture) ?? "";
        // Locations rebuilt from LocationInfo are file locations without a SourceTree: take the path from the line span.
        var lineSpan = location?.GetLineSpan();
        var path = lineSpan?.Path ?? "";
        var span = location?.SourceSpan ?? default;
        var lines = lineSpan?.Span ?? default;
        return new DiagnosticInfo(descriptor.Id, path, span, lines, new EquatableArray<string>(strings));
    }

    public Diagnostic ToDiagnostic()
    {
        var descriptor = Diagnostics.Descriptors.ById(Id);
        var location = FilePath.Length == 0 && Span.IsEmpty ? Location.None : Location.Create(FilePath, Span, LineSpan);
        var args = new object[Arguments.Length];
        for (int i = 0; i < args.Length; i++) args[i] = Arguments[i];
        return Diagnostic.Create(descriptor, location, args);
    }
}

/// <summary>A parse result: a spec (null when invalid) and the diagnostics found on the way.</summary>
internal sealed record ParseResult(ModelSpec? Spec, EquatableArray<DiagnosticInfo> Diagnostics);
