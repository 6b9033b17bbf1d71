using Qwen3Gen.Inference;

namespace Qwen3Gen.Serving.Tests;

/// <summary>Qwen3's &lt;tool_call&gt; blocks → calls; streamed in any split, the pieces equal the one-shot parse.</summary>
public class ToolCallParserTests
{
    [Fact]
    public void Parse_SplitsContentAndCalls()
    {
        var (content, calls) = ToolCallParser.Parse("Let me check.\n\n" + Scripts.Call + "\n<tool_call>\n{\"name\": \"time\", \"arguments\": \"{\\\"zone\\\": \\\"UTC\\\"}\"}\n</tool_call>");
        Assert.Equal("Let me check.", content);
        Assert.Equal(["get_weather", "time"], calls.Select(c => c.Name));
        Assert.Equal("{\"city\": \"Paris\", \"unit\": \"celsius\"}", calls[0].ArgumentsJson);
        Assert.Equal("{\"zone\": \"UTC\"}", calls[1].ArgumentsJson);               // arguments given as a JSON string

        Assert.Equal((null, 1), (ToolCallParser.Parse(Scripts.Call).Content, ToolCallParser.Parse(Scripts.Call).Calls.Count));
        Assert.Equal("plain text <tool", ToolCallParser.Parse("plain text <tool").Content);   // a partial tag at the end is text
        var bad = "<tool_call>\n{not json}\n</tool_call>";
        Assert.Equal((bad, 0), (ToolCallParser.Parse(bad).Content, ToolCallParser.Parse(bad).Calls.Count));   // kept verbatim
        var unclosed = ToolCallParser.Parse("<tool_call>\n{\"name\": \"f\", \"arguments\": {}}");
        Assert.Equal("f", Assert.Single(unclosed.Calls).Name);                    // stopped before the closing tag
    }

    [Fact]
    public void Streaming_AnySplit_GivesTheSamePieces()
    {
        string text = "Sure.\n" + Scripts.Call + " and <b>bold</b> <tool_call>{\"name\": \"x\"}</tool_call>\n";
        var whole = ToolCallParser.Parse(text);
        for (int size = 1; size <= 7; size++)
        {
            var parser = new ToolCallParser();
            var pieces = new List<AnswerPiece>();
            for (int i = 0; i < text.Length; i += size) parser.Push(text.Substring(i, Math.Min(size, text.Length - i)), pieces);
            parser.Finish(pieces);
            Assert.Equal(whole.Content, string.Concat(pieces.Where(p => p.Text is not null).Select(p => p.Text)));
            Assert.Equal(whole.Calls, pieces.Where(p => p.ToolCall is not null).Select(p => p.ToolCall!));
        }
        Assert.Equal(["get_weather", "x"], whole.Calls.Select(c => c.Name));
        Assert.Equal("{}", whole.Calls[1].ArgumentsJson);
    }
}
