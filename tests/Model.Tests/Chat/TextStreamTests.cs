using Qwen3Gen.Inference;
using Qwen3Gen.Tokenization;

namespace Qwen3Gen.Model.Tests.Chat;

/// <summary>The text stream (the one decode / stop-string path): think / answer separation, incremental decoding and stop strings, on scripted token streams.</summary>
public class TextStreamTests
{
    private static readonly Qwen3Tokenizer Tok = Qwen3Tokenizer.Bundled;

    private static (List<ChatChunk> Chunks, TextStream Stream) Run(IEnumerable<int> ids, bool separate = true, string[]? stops = null)
    {
        var stream = new TextStream(Tok, separate, stops);
        var chunks = new List<ChatChunk>();
        foreach (int id in ids)
            if (!stream.Push(id, chunks)) break;
        stream.Finish(chunks);
        return (chunks, stream);
    }

    private static string Joined(List<ChatChunk> chunks, ChatChunkKind kind) =>
        string.Concat(chunks.Where(c => c.Kind == kind).Select(c => c.Text));

    // What Qwen3 writes in thinking mode: <think>\n reasoning \n</think>\n\n answer <|im_end|>
    private static int[] ThinkingReply(string reasoning, string answer) =>
        [Tok.ThinkId, .. Tok.Encode("\n" + reasoning + "\n"), Tok.ThinkEndId, .. Tok.Encode("\n\n" + answer), Tok.ImEndId];

    [Fact]
    public void ThinkBlock_GoesToThinking_AnswerToAnswer_FormatNewlinesDropped()
    {
        var (chunks, stream) = Run(ThinkingReply("Let me think.\nTwo plus two is four.", "The answer is 4."));
        Assert.Equal("Let me think.\nTwo plus two is four.", stream.Thinking);
        Assert.Equal("The answer is 4.", stream.Answer);
        Assert.Equal(stream.Thinking, Joined(chunks, ChatChunkKind.Thinking));
        Assert.Equal(stream.Answer, Joined(chunks, ChatChunkKind.Answer));
        Assert.DoesNotContain(chunks, c => c.Text.Contains("think>"));
        // every thinking chunk comes before every answer chunk
        int lastThinking = chunks.FindLastIndex(c => c.Kind == ChatChunkKind.Thinking);
        int firstAnswer = chunks.FindIndex(c => c.Kind == ChatChunkKind.Answer);
        Assert.True(lastThinking < firstAnswer);
    }

    [Fact]
    public void EmptyThinkBlock_GivesOnlyAnswer()
    {
        // Non-thinking turns of a thinking-capable prompt: <think>\n\n</think>\n\n answer
        var (chunks, stream) = Run([Tok.ThinkId, .. Tok.Encode("\n\n"), Tok.ThinkEndId, .. Tok.Encode("\n\nHi there!"), Tok.ImEndId]);
        Assert.Equal("", stream.Thinking);
        Assert.Equal("Hi there!", stream.Answer);
        Assert.All(chunks, c => Assert.Equal(ChatChunkKind.Answer, c.Kind));
    }

    [Fact]
    public void NoThinkTags_EverythingIsAnswer()
    {
        var (_, stream) = Run(Tok.Encode("Plain answer.\nSecond line."));
        Assert.Equal("", stream.Thinking);
        Assert.Equal("Plain answer.\nSecond line.", stream.Answer);
    }

    [Fact]
    public void ReplyCutInsideThinking_IsAllThinking()
    {
        var (_, stream) = Run([Tok.ThinkId, .. Tok.Encode("\nStill thinking about")]);
        Assert.Equal("Still thinking about", stream.Thinking);
        Assert.Equal("", stream.Answer);
        Assert.Equal(ChatChunkKind.Thinking, stream.Kind);
    }

    [Fact]
    public void NewlinesInsideThinking_AreKept_OnlyTheTrailingOnesDropped()
    {
        var (_, stream) = Run(ThinkingReply("a\n\nb\n", "c"));   // reasoning "a\n\nb\n" + format "\n"
        Assert.Equal("a\n\nb", stream.Thinking);
        Assert.Equal("c", stream.Answer);
    }

    [Fact]
    public void CharacterSplitAcrossTokens_IsNeverStreamedHalf()
    {
        const string text = "🦙 llama 𝕏";
        int[] ids = Tok.Encode(text);
        Assert.True(ids.Length > text.Split(' ').Length, "precondition: some character spans several byte tokens");
        var (chunks, stream) = Run(ids);
        Assert.Equal(text, stream.Answer);
        Assert.DoesNotContain(chunks, c => c.Text.Contains('\uFFFD'));
        Assert.DoesNotContain(chunks, c => char.IsHighSurrogate(c.Text[^1]));
    }

    [Fact]
    public void RawMode_StreamsExactlyTheDecodedText()
    {
        int[] ids = ThinkingReply("reason", "answer");
        var (chunks, stream) = Run(ids, separate: false);
        string expected = Tok.Decode(ids, skipSpecialTokens: true);   // <think> is not special: it stays, <|im_end|> goes
        Assert.Equal(expected, string.Concat(chunks.Select(c => c.Text)));
        Assert.Contains("<think>", expected);
        Assert.DoesNotContain("<|im_end|>", expected);
        Assert.Equal(expected, stream.Answer);
    }

    [Fact]
    public void StopString_CutsTheText_AndNothingPastItIsStreamed()
    {
        int[] ids = Tok.Encode("Hello world. END of the reply, never shown.");
        var stream = new TextStream(Tok, separateThinking: true, stopStrings: ["END"]);
        var chunks = new List<ChatChunk>();
        int pushed = 0;
        foreach (int id in ids)
        {
            pushed++;
            if (!stream.Push(id, chunks)) break;
        }
        stream.Finish(chunks);
        Assert.True(stream.Stopped);
        Assert.True(pushed < ids.Length, "generation stops at the stop string, before the end of the text");
        Assert.Equal("Hello world. ", stream.Answer);
        Assert.Equal("Hello world. ", string.Concat(chunks.Select(c => c.Text)));
    }

    [Fact]
    public void PartialStopString_IsHeldBack_ThenReleased()
    {
        // "ST" and "STO" look like the start of "STOP" until the next character says otherwise.
        int[] ids = Tok.Encode("STOne STOX done");
        var stream = new TextStream(Tok, separateThinking: true, stopStrings: ["STOP"]);
        var chunks = new List<ChatChunk>();
        var shownAfterEachToken = new List<string>();
        foreach (int id in ids)
        {
            Assert.True(stream.Push(id, chunks));
            shownAfterEachToken.Add(string.Concat(chunks.Select(c => c.Text)));
        }
        stream.Finish(chunks);
        Assert.False(stream.Stopped);
        Assert.Equal("STOne STOX done", stream.Answer);
        // whatever was shown is always a prefix of the final text and never ends in a possible "STOP" prefix
        foreach (var shown in shownAfterEachToken)
        {
            Assert.StartsWith(shown, "STOne STOX done");
            Assert.False(shown.EndsWith("S") || shown.EndsWith("ST") || shown.EndsWith("STO"), $"'{shown}' ends with a possible stop prefix");
        }
    }

    [Fact]
    public void StopString_InsideThinking_StopsThere()
    {
        var (_, stream) = Run([Tok.ThinkId, .. Tok.Encode("\nfirst idea\n###\nsecond")], stops: ["###"]);
        Assert.True(stream.Stopped);
        Assert.Equal("first idea\n", stream.Thinking);
    }
}
