using System.Text.Json;
using System.Text.Json.Nodes;
using Qwen3Gen.Tokenization;

namespace Qwen3Gen.Runtime.Tests.Tokenization;

/// <summary>The C# Qwen3 chat template against transformers' renderings (chat_golden.jsonl).</summary>
public sealed class ChatTemplateTests
{
    public static IEnumerable<object[]> Lines()
        => File.ReadLines(TokenizerTestData.DataPath("chat_golden.jsonl")).Select((l, i) => new object[] { i + 1 });

    static JsonElement Line(int n)
        => JsonDocument.Parse(File.ReadLines(TokenizerTestData.DataPath("chat_golden.jsonl")).ElementAt(n - 1)).RootElement;

    [Theory]
    [MemberData(nameof(Lines))]
    public void Render_MatchesTransformersTextAndIds(int line)
    {
        var g = Line(line);
        var messages = g.GetProperty("messages").EnumerateArray().Select(ChatMessage.FromJson).ToList();
        bool addPrompt = g.GetProperty("add_generation_prompt").GetBoolean();
        bool? thinking = g.GetProperty("enable_thinking").ValueKind switch
        {
            JsonValueKind.True => true,
            JsonValueKind.False => false,
            _ => null,
        };
        List<JsonNode>? tools = g.TryGetProperty("tools", out var t)
            ? t.EnumerateArray().Select(x => JsonNode.Parse(x.GetRawText())!).ToList() : null;

        string text = ChatTemplate.Render(messages, addPrompt, thinking, tools);
        Assert.Equal(g.GetProperty("text").GetString(), text);

        int[] expected = g.GetProperty("ids").EnumerateArray().Select(e => e.GetInt32()).ToArray();
        int[] ids = ChatTemplate.Encode(TokenizerTestData.Tokenizer, messages, addPrompt, thinking, tools);
        Assert.True(expected.AsSpan().SequenceEqual(ids), $"chat_golden.jsonl line {line}: {TokenizerTestData.Diff(expected, ids)}");
    }

    [Fact]
    public void Render_ThinkingFalse_AppendsEmptyThinkBlock()
    {
        var msgs = new[] { ChatMessage.User("hi") };
        Assert.Equal("<|im_start|>user\nhi<|im_end|>\n<|im_start|>assistant\n<think>\n\n</think>\n\n", ChatTemplate.Render(msgs, true, false));
        Assert.Equal("<|im_start|>user\nhi<|im_end|>\n<|im_start|>assistant\n", ChatTemplate.Render(msgs, true, true));
        Assert.Equal("<|im_start|>user\nhi<|im_end|>\n<|im_start|>assistant\n", ChatTemplate.Render(msgs, true, null));
    }

    [Fact]
    public void Render_ReasoningBeforeLastQuery_IsDropped()
    {
        // Only assistant turns after the last real user query keep their reasoning.
        var msgs = new[]
        {
            ChatMessage.User("a"),
            ChatMessage.Assistant("<think>\nr1\n</think>\n\nx"),
            ChatMessage.User("b"),
            ChatMessage.Assistant("y", reasoning: "r2"),
        };
        Assert.Equal("<|im_start|>user\na<|im_end|>\n<|im_start|>assistant\nx<|im_end|>\n<|im_start|>user\nb<|im_end|>\n" +
                     "<|im_start|>assistant\n<think>\nr2\n</think>\n\ny<|im_end|>\n", ChatTemplate.Render(msgs));
    }

    [Fact]
    public void Render_StringArgumentsVerbatim_ObjectArgumentsAsPythonJson()
    {
        var call1 = new ToolCall("f", JsonNode.Parse("{\"x\":1.50,\"s\":\"é\\n\",\"big\":1e16,\"small\":0.00001,\"l\":[true,null]}"));
        var call2 = new ToolCall("g", JsonValue.Create("{\"raw\":  1}"));
        string text = ChatTemplate.Render([ChatMessage.User("q"), ChatMessage.Assistant("", toolCalls: [call1, call2])]);
        Assert.Contains("<tool_call>\n{\"name\": \"f\", \"arguments\": {\"x\": 1.5, \"s\": \"é\\n\", \"big\": 1e+16, \"small\": 1e-05, \"l\": [true, null]}}\n</tool_call>\n" +
                        "<tool_call>\n{\"name\": \"g\", \"arguments\": {\"raw\":  1}}\n</tool_call><|im_end|>", text);
    }

    [Theory]
    [InlineData(2.0, "2.0")]
    [InlineData(0.1, "0.1")]
    [InlineData(1e15, "1000000000000000.0")]
    [InlineData(1e16, "1e+16")]
    [InlineData(0.0001, "0.0001")]
    [InlineData(1.5e-7, "1.5e-07")]
    [InlineData(-123.456, "-123.456")]
    public void FloatRepr_MatchesPython(double value, string python) => Assert.Equal(python, PythonJson.FloatRepr(value));

    [Fact]
    public void Render_EmptyConversation_Throws()
        => Assert.Throws<ArgumentException>(() => ChatTemplate.Render([]));
}
