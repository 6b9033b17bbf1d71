using System;
using System.Globalization;
using System.Text;

namespace Qwen3Gen.Generator.Emitting;

/// <summary>
/// Builds generated text with tracked indentation. <see cref="Block"/> writes a multi-line template
/// re-indented to the current level; the writer checks that every opened scope was closed.
/// </summary>
internal sealed class SourceWriter
{
    private readonly StringBuilder _text = new();
    private int _indent;

    /// <summary>
    /// What a template's <c>[GeneratedCode]</c> line becomes: the attribute on every type the generator declares (the
    /// model class itself is the user's and stays unmarked), naming this generator and its version.
    /// </summary>
    public static readonly string GeneratedCode =
        $"[global::System.CodeDom.Compiler.GeneratedCode(\"Qwen3Gen.Generator\", \"{typeof(SourceWriter).Assembly.GetName().Version}\")]";

    public SourceWriter Line(string line = "")
    {
        if (line == "[GeneratedCode]") line = GeneratedCode;
        if (line.Length == 0) _text.Append('\n');
        else _text.Append(' ', _indent * 4).Append(line).Append('\n');
        return this;
    }

    /// <summary>Writes each line of <paramref name="template"/> at the current indentation (blank lines stay blank).</summary>
    public SourceWriter Block(string template)
    {
        foreach (var raw in template.Replace("\r\n", "\n").Split('\n'))
            Line(raw.TrimEnd());
        return this;
    }

    public SourceWriter Open(string line)
    {
        Line(line);
        Line("{");
        _indent++;
        return this;
    }

    public SourceWriter Close(string suffix = "")
    {
        _indent--;
        Line("}" + suffix);
        return this;
    }

    public override string ToString()
    {
        if (_indent != 0) throw new InvalidOperationException($"Unbalanced scopes in generated source (indent {_indent}).");
        return _text.ToString();
    }

    /// <summary>Round-trip, culture-invariant text of a double (as a C# literal).</summary>
    public static string Double(double value)
    {
        var s = value.ToString("R", CultureInfo.InvariantCulture);
        return s.Contains(".") || s.Contains("E") ? s : s + ".0";
    }

    /// <summary>Round-trip, culture-invariant float literal ("1E-06f").</summary>
    public static string Float(double value) => ((float)value).ToString("R", CultureInfo.InvariantCulture) + "f";

    public static string Int(long value) => value.ToString(CultureInfo.InvariantCulture);

    /// <summary>1_000_000-style grouping for big numbers in comments.</summary>
    public static string Grouped(long value) => value.ToString("N0", CultureInfo.InvariantCulture);
}
