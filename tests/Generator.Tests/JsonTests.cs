using Qwen3Gen.Rules;

namespace Qwen3Gen.Generator.Tests;

/// <summary>The generator's small JSON reader (RFC 8259): values, escapes, and errors with positions.</summary>
public class JsonTests
{
    [Fact]
    public void Parse_ReadsEveryKindOfValue()
    {
        var root = Json.Parse("""
            { "a": 1, "b": -2.5e-3, "c": "x", "d": true, "e": false, "f": null,
              "g": [1, [2], {"h": 3}], "i": {} }
            """);
        Assert.Equal(JsonKind.Object, root.Kind);
        Assert.Equal(1.0, root["a"]!.Number);
        Assert.Equal(-0.0025, root["b"]!.Number);
        Assert.Equal("-2.5e-3", root["b"]!.Text);
        Assert.Equal("x", root["c"]!.Text);
        Assert.Equal(JsonKind.True, root["d"]!.Kind);
        Assert.Equal(JsonKind.False, root["e"]!.Kind);
        Assert.Equal(JsonKind.Null, root["f"]!.Kind);
        Assert.Equal(3, root["g"]!.Items.Count);
        Assert.Equal(3.0, root["g"]!.Items[2]["h"]!.Number);
        Assert.Empty(root["i"]!.Members);
        Assert.Null(root["missing"]);
    }

    [Fact]
    public void Parse_DecodesEscapes_IncludingSurrogatePairs()
    {
        var value = Json.Parse("\"q\\\"b\\\\s\\/n\\nt\\tu\\u00e9\\ud83d\\ude00\"");
        Assert.Equal("q\"b\\s/n\nt\tu\u00e9\U0001F600", value.Text);
    }

    [Fact]
    public void Parse_DuplicateKeys_LastWins_AsPythonJson()
    {
        Assert.Equal(2.0, Json.Parse("{\"a\": 1, \"a\": 2}")["a"]!.Number);
    }

    [Fact]
    public void Parse_SkipsByteOrderMark()
    {
        Assert.Equal(JsonKind.Object, Json.Parse("\uFEFF{}").Kind);
    }

    [Theory]
    [InlineData("", "expected a value but found the end of the file", 1, 1)]
    [InlineData("{\"a\": 1,}", "expected a property name in double quotes but found '}'", 1, 9)]
    [InlineData("{\"a\" 1}", "expected ':' but found '1'", 1, 6)]
    [InlineData("[1 2]", "expected ',' or ']' but found '2'", 1, 4)]
    [InlineData("{\n  \"a\": NaN\n}", "expected a value but found 'N'", 2, 8)]
    [InlineData("{\"a\": 01}", "expected ',' or '}' but found '1'", 1, 8)]
    [InlineData("{\"a\": 1.}", "expected a digit after '.' but found '}'", 1, 9)]
    [InlineData("{\"a\": \"x", "unterminated string", 1, 7)]
    [InlineData("{\"a\": \"\\x\"}", "invalid escape '\\x'", 1, 8)]
    [InlineData("{} {}", "unexpected '{' after the end of the document", 1, 4)]
    [InlineData("// comment\n{}", "expected a value but found '/'", 1, 1)]
    public void Parse_RejectsBadJson_WithPosition(string text, string message, int line, int column)
    {
        var e = Assert.Throws<JsonParseException>(() => Json.Parse(text));
        Assert.Equal(message, e.Message);
        Assert.Equal((line, column), (e.Line, e.Column));
    }

    [Fact]
    public void Parse_BoundsNesting()
    {
        string deep = new string('[', 10_000) + new string(']', 10_000);
        var e = Assert.Throws<JsonParseException>(() => Json.Parse(deep));
        Assert.Equal("nesting deeper than 64 levels", e.Message);
        Assert.Equal(64, e.Offset);
    }
}
