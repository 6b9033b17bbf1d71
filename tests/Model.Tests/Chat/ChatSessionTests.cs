using Qwen3Gen.Inference;
using Qwen3Gen.Sampling;
using Qwen3Gen.Tokenization;
using Xunit.Abstractions;
using Qwen3Gen.Models;

namespace Qwen3Gen.Model.Tests.Chat;

/// <summary>
/// ChatEngine and ChatSession end to end on a random <see cref="Qwen3ChatTest"/> snapshot loaded through
/// ModelDirectory.Load (BF16, two shards, real tokenizer): streaming, limits, KV prefix reuse, history trimming.
/// </summary>
[Collection(ChatModelFolderCollection.Name)]
public class ChatSessionTests(ChatModelFolderFixture fx, ITestOutputHelper output)
{
    // Greedy with a presence penalty (logits of this model are ~0.2 apart, so 1 rules out repeats): a random model's argmax would otherwise repeat one token forever, and a
    // reply of one repeated token cannot tell a right cache from a wrong one.
    private static readonly SamplingOptions Argmax = SamplingOptions.Greedy with { PresencePenalty = 1f };
    private static readonly ChatRequest Greedy = new() { Sampling = Argmax, MaxNewTokens = 12 };

    [Fact]
    public void Snapshot_LoadsThroughModelDirectory_AsBf16FromTwoShards()
    {
        Assert.Equal(fx.DefinitionName, fx.Loaded.Definition.Name);
        Assert.Equal(WeightFormat.BF16, fx.Loaded.Format);
        Assert.Equal(2, System.IO.Directory.GetFiles(fx.Directory, "model-*-of-00002.safetensors").Length);
        Assert.Equal([GenerationConfig.ImEnd, GenerationConfig.EndOfText], fx.Loaded.Generation.EosTokenIds);
    }

    [Fact]
    public void Generate_StreamedText_EqualsDecodingTheGeneratedIds_AndStopsAtMaxTokens()
    {
        // No stop ids: the reply must run to exactly MaxNewTokens.
        using var engine = new ChatEngine(fx.Loaded.Model, fx.Tokenizer, stopIds: [], contextLength: 256);
        var streamed = new List<ChatChunk>();
        var prompt = fx.Tokenizer.Encode("The quick brown fox");
        var reply = engine.Generate(prompt, Greedy with { MaxNewTokens = 20 }, separateThinking: false, streamed.Add);

        output.WriteLine($"ids: {string.Join(' ', reply.GeneratedIds)}");
        Assert.Equal(StopReason.MaxTokens, reply.Stop);
        Assert.Equal(20, reply.GeneratedIds.Length);
        Assert.All(reply.GeneratedIds, id => Assert.InRange(id, 0, fx.Tokenizer.VocabSize - 1));   // padding rows never sampled
        string decoded = fx.Tokenizer.Decode(reply.GeneratedIds, skipSpecialTokens: true);
        Assert.Equal(decoded, string.Concat(streamed.Select(c => c.Text)));
        Assert.Equal(decoded, reply.Answer);
        Assert.Equal(prompt.Length, reply.PromptTokens);
        Assert.Equal(19, reply.DecodeSteps);                 // the last sampled token is not run through the model
        Assert.Equal(prompt.Length + 19, engine.CachedIds.Count);
    }

    [Fact]
    public void Generate_GreedyIds_EqualArgmaxOfAFreshSessionLoop()
    {
        // Independent loop over the raw session: prefill, then argmax / decode.
        var prompt = fx.Tokenizer.Encode("Once upon a time");
        int[] expected = new int[10];
        using (var session = fx.Loaded.Model.CreateSession(64))
        {
            var logits = session.Prefill(prompt);
            for (int i = 0; i < expected.Length; i++)
            {
                int best = 0;
                for (int v = 1; v < fx.Tokenizer.VocabSize; v++) if (logits[v] > logits[best]) best = v;
                expected[i] = best;
                if (i + 1 < expected.Length) logits = session.Decode(best);
            }
        }
        using var engine = new ChatEngine(fx.Loaded.Model, fx.Tokenizer, stopIds: [], contextLength: 64);
        var reply = engine.Generate(prompt, new ChatRequest { Sampling = SamplingOptions.Greedy, MaxNewTokens = 10 }, separateThinking: false);
        Assert.Equal(expected, reply.GeneratedIds);
    }

    [Fact]
    public void StopsAtAStopId()
    {
        // Make the first greedy token a stop id: the reply is empty and ends with StopToken.
        using var probe = new ChatEngine(fx.Loaded.Model, fx.Tokenizer, stopIds: [], contextLength: 64);
        var prompt = fx.Tokenizer.Encode("Hello");
        int first = probe.Generate(prompt, Greedy with { MaxNewTokens = 1 }, false).GeneratedIds[0];

        using var engine = new ChatEngine(fx.Loaded.Model, fx.Tokenizer, stopIds: [first], contextLength: 64);
        var reply = engine.Generate(prompt, Greedy, false);
        Assert.Equal(StopReason.StopToken, reply.Stop);
        Assert.Equal([first], reply.GeneratedIds);
        Assert.Equal("", reply.Answer);
    }

    [Fact]
    public void ContextFull_StopsTheReply()
    {
        using var engine = new ChatEngine(fx.Loaded.Model, fx.Tokenizer, stopIds: [], contextLength: 16);
        var prompt = fx.Tokenizer.Encode("one two three four five six");
        var reply = engine.Generate(prompt, Greedy with { MaxNewTokens = 100 }, false);
        Assert.Equal(StopReason.ContextFull, reply.Stop);
        Assert.Equal(16 - prompt.Length + 1, reply.GeneratedIds.Length);   // 16 cached positions, then one more sampled
    }

    [Fact]
    public void KvPrefixReuse_GivesTheSameSecondTurnAsAFreshSession()
    {
        var options = new ChatSessionOptions { SystemPrompt = "You are terse.", Sampling = Argmax, MaxNewTokens = 12, ContextLength = 512 };
        using var chat = ChatSession.Create(fx.Loaded, fx.Tokenizer, options);
        var turn1 = chat.Send("What is two plus two?");
        var turn2 = chat.Send("And three plus three? /no_think");
        output.WriteLine($"turn 2: {turn2.Reply.PromptTokens} prompt tokens, {turn2.Reply.ReusedTokens} reused");
        Assert.Equal(0, turn1.Reply.ReusedTokens);
        Assert.True(turn2.Reply.ReusedTokens > 10, "turn 2 reuses at least the system prompt and the first user turn");
        Assert.Equal(turn2.Reply.PromptTokens - turn2.Reply.ReusedTokens, turn2.Reply.PrefilledTokens);

        // The same conversation rendered and generated by a fresh engine (empty cache).
        var conversation = chat.History.Take(chat.History.Count - 1).ToList();
        Assert.Equal("user", conversation[^1].Role);
        using var fresh = ChatEngine.Create(fx.Loaded, fx.Tokenizer, contextLength: 512);
        var again = fresh.Complete(conversation, null, new ChatRequest { Sampling = Argmax, MaxNewTokens = 12 });
        Assert.Equal(0, again.ReusedTokens);
        Assert.Equal(turn2.Reply.PromptTokens, again.PromptTokens);
        Assert.Equal(again.GeneratedIds, turn2.Reply.GeneratedIds);
        Assert.Equal(again.Answer, turn2.Answer);
        Assert.True(turn2.Reply.GeneratedIds.Distinct().Count() > 6, "the reply is varied enough to notice a wrong cache");
    }

    [Fact]
    public void KvPrefixReuse_SampledReply_EqualsAFreshEngine()
    {
        // Temperature 1 over the whole vocabulary: any change of the logits (a stale or misplaced cache entry)
        // changes the draws; the same logits and seed give the same ids.
        var request = new ChatRequest { Sampling = new SamplingOptions { Temperature = 1f }, MaxNewTokens = 16 };
        var turn1 = new List<ChatMessage> { ChatMessage.System("sys"), ChatMessage.User("first") };
        using var engine = ChatEngine.Create(fx.Loaded, fx.Tokenizer, contextLength: 256);
        var r1 = engine.Complete(turn1, null, request with { Seed = 1 });
        var turn2 = new List<ChatMessage>(turn1) { ChatMessage.Assistant(r1.Answer, r1.Thinking), ChatMessage.User("second") };
        var reused = engine.Complete(turn2, null, request with { Seed = 2 });
        Assert.True(reused.ReusedTokens > 5);

        using var fresh = ChatEngine.Create(fx.Loaded, fx.Tokenizer, contextLength: 256);
        var expected = fresh.Complete(turn2, null, request with { Seed = 2 });
        Assert.Equal(expected.GeneratedIds, reused.GeneratedIds);
        Assert.True(reused.GeneratedIds.Distinct().Count() > 10);

        // and a wrong cache would show: prefill the same prompt on top of unrelated cached ids, no rewind
        using var session = fx.Loaded.Model.CreateSession(256);
        session.Prefill(fx.Tokenizer.Encode("unrelated text that should have been forgotten"));
        var logitsWrong = session.Prefill(engine.Render(turn2, null)).ToArray();
        session.Rewind(0);
        var logitsRight = session.Prefill(engine.Render(turn2, null)).ToArray();
        Assert.True(logitsRight.Zip(logitsWrong).Max(p => Math.Abs(p.First - p.Second)) > 1e-3, "the test model's logits depend on the context");
    }

    [Fact]
    public void History_HoldsTurnsWithReasoning_AndResetKeepsTheSystemMessage()
    {
        var options = new ChatSessionOptions { SystemPrompt = "sys", Sampling = Argmax, MaxNewTokens = 4, ContextLength = 256 };
        using var chat = ChatSession.Create(fx.Loaded, fx.Tokenizer, options);
        var turn = chat.Send("hi");
        Assert.Equal(["system", "user", "assistant"], chat.History.Select(m => m.Role));
        Assert.Equal(turn.Answer, chat.History[2].Content);
        Assert.Equal(turn.Reply.Thinking, chat.History[2].ReasoningContent);
        chat.Reset();
        Assert.Equal(["system"], chat.History.Select(m => m.Role));
        var next = chat.Send("hello again");
        Assert.True(next.Reply.ReusedTokens > 0, "the system prompt's cache survives /reset");
    }

    [Fact]
    public void TurnMode_FollowsSoftSwitches_AndEnableThinking()
    {
        using var chat = ChatSession.Create(fx.Loaded, fx.Tokenizer, new ChatSessionOptions { MaxNewTokens = 2, ContextLength = 256 });
        Assert.True(chat.Send("hi").Thinking);
        Assert.False(chat.Send("quick one /no_think").Thinking);
        Assert.False(chat.Send("still quick").Thinking);
        Assert.True(chat.Send("now think /think").Thinking);
        chat.EnableThinking = false;
        Assert.False(chat.Send("think /think").Thinking);

        // enable_thinking=false: the prompt ends with the template's empty think block.
        var prompt = chat.Engine.Render([ChatMessage.User("x")], enableThinking: false);
        Assert.EndsWith("<|im_start|>assistant\n<think>\n\n</think>\n\n", fx.Tokenizer.Decode(prompt));
    }

    [Fact]
    public void HistoryTooLong_DropsOldestTurns_KeepsSystem_WithNotice()
    {
        var options = new ChatSessionOptions
        {
            SystemPrompt = "You are a helpful assistant.",
            Sampling = Argmax,
            MaxNewTokens = 8,
            ContextLength = 120,
        };
        using var chat = ChatSession.Create(fx.Loaded, fx.Tokenizer, options);
        var notices = new List<string>();
        int dropped = 0;
        for (int i = 0; i < 8; i++)
        {
            var turn = chat.Send($"Message number {i}: tell me something about the number {i}.", c =>
            {
                if (c.Kind == ChatChunkKind.Notice) notices.Add(c.Text);
            });
            dropped += turn.DroppedTurns;
            Assert.True(turn.Reply.PromptTokens + 8 <= 120, $"turn {i}: prompt {turn.Reply.PromptTokens} leaves room for the reply");
        }
        output.WriteLine(string.Join("\n", notices));
        Assert.True(dropped > 0);
        Assert.Equal(notices.Count, notices.Count(n => n.Contains("dropped") && n.Contains("120-token context")));
        Assert.NotEmpty(notices);
        Assert.Equal("system", chat.History[0].Role);
        Assert.Equal("user", chat.History[1].Role);
        Assert.Contains("Message number 7", chat.History[^2].Content);
        Assert.DoesNotContain(chat.History, m => m.Content!.Contains("Message number 0"));
    }

    [Fact]
    public void MessageThatCannotFit_Throws_AndLeavesHistoryAlone()
    {
        var options = new ChatSessionOptions { Sampling = Argmax, MaxNewTokens = 4, ContextLength = 32 };
        using var chat = ChatSession.Create(fx.Loaded, fx.Tokenizer, options);
        chat.Send("hi");
        var before = chat.History.ToList();
        var e = Assert.Throws<InvalidOperationException>(() => chat.Send(string.Join(' ', Enumerable.Repeat("word", 60))));
        Assert.Contains("does not fit", e.Message);
        Assert.Contains("32", e.Message);
        Assert.Equal(before, chat.History);
    }

    [Fact]
    public void Cancellation_Throws_AndTheNextTurnStillMatchesAFreshEngine()
    {
        var options = new ChatSessionOptions { Sampling = Argmax, MaxNewTokens = 12, ContextLength = 256 };
        using var chat = ChatSession.Create(fx.Loaded, fx.Tokenizer, options);
        using var cts = new CancellationTokenSource();
        int chunks = 0;
        Assert.ThrowsAny<OperationCanceledException>(() => chat.Send("count to ten", c => { if (++chunks == 2) cts.Cancel(); }, cts.Token));
        Assert.Empty(chat.History);

        var turn = chat.Send("count to ten");
        using var fresh = ChatEngine.Create(fx.Loaded, fx.Tokenizer, 256);
        var expected = fresh.Complete([ChatMessage.User("count to ten")], null, new ChatRequest { Sampling = Argmax, MaxNewTokens = 12 });
        Assert.Equal(expected.GeneratedIds, turn.Reply.GeneratedIds);
    }

    [Fact]
    public void SameSeed_SameText_WithSampling()
    {
        var options = new ChatSessionOptions { EnableThinking = false, Seed = 7, MaxNewTokens = 16, ContextLength = 256 };
        string Run()
        {
            using var chat = ChatSession.Create(fx.Loaded, fx.Tokenizer, options);
            return string.Join("|", chat.Send("Tell me a story").Reply.GeneratedIds);
        }
        string a = Run(), b = Run();
        Assert.Equal(a, b);
        using var other = ChatSession.Create(fx.Loaded, fx.Tokenizer, options with { Seed = 8 });
        Assert.NotEqual(a, string.Join("|", other.Send("Tell me a story").Reply.GeneratedIds));
    }
}
