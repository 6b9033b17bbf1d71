using Qwen3Gen.Inference;
using Qwen3Gen.Sampling;
using Qwen3Gen.Tokenization;

namespace Qwen3Gen.Serving.Tests;

/// <summary>
/// The continuous-batching engine without HTTP: a request's tokens do not depend on what runs beside it, cancelled
/// requests free their slot, the queue is bounded, a shared prefix is reused.
/// </summary>
public class BatchEngineTests
{
    private static int[] Prompt(Qwen3Tokenizer t, int i) =>
        ChatTemplate.Encode(t, [ChatMessage.System("You are a test."), ChatMessage.User($"Request number {i}: " + new string('x', 3 * i))], addGenerationPrompt: true, enableThinking: false);

    private static async Task<int[]> Run(BatchEngine engine, int[] prompt, int maxTokens = 24, SamplingOptions? sampling = null, ulong? seed = null)
    {
        var h = engine.Submit(new GenerationJob { Prompt = prompt, MaxTokens = maxTokens, Sampling = sampling ?? SamplingOptions.Greedy, Seed = seed });
        return (await h.Result).GeneratedIds;
    }

    [Fact]
    public async Task Greedy_AloneOrInABatchOfEight_GivesTheSameTokens()
    {
        var t = ServingModels.Tokenizer;
        using var model = ServingModels.Random();
        var prompts = Enumerable.Range(0, 8).Select(i => Prompt(t, i)).ToArray();
        var sampled = new SamplingOptions { Temperature = 0.9f, TopK = 40 };

        int[][] alone = new int[8][], aloneSampled = new int[8][];
        using (var engine = new BatchEngine(model, t, null, new BatchEngineOptions { Sequences = 8, Context = 256, PrefillChunk = 16 }))
            for (int i = 0; i < 8; i++)
            {
                alone[i] = await Run(engine, prompts[i]);
                aloneSampled[i] = await Run(engine, prompts[i], sampling: sampled, seed: (ulong)i);
            }
        Assert.True(alone.Select(a => string.Join(",", a)).Distinct().Count() > 1, "the prompts should give different replies");

        using (var engine = new BatchEngine(model, t, null, new BatchEngineOptions { Sequences = 8, Context = 256, PrefillChunk = 16 }))
        {
            // all at once (they join while others prefill and decode), then again with sampling
            var together = await Task.WhenAll(prompts.Select(p => Run(engine, p)));
            var togetherSampled = await Task.WhenAll(prompts.Select((p, i) => Run(engine, p, sampling: sampled, seed: (ulong)i)));
            Assert.True(engine.DecodedTokens > engine.DecodeSteps, $"the engine never decoded two sequences in one step ({engine.DecodedTokens} tokens in {engine.DecodeSteps} steps)");
            for (int i = 0; i < 8; i++)
            {
                Assert.Equal(alone[i], together[i]);
                Assert.Equal(aloneSampled[i], togetherSampled[i]);
            }
        }
    }

    [Fact]
    public async Task SharedPrefix_IsReused_AndChangesNothing()
    {
        var t = ServingModels.Tokenizer;
        using var model = ServingModels.Random();
        using var engine = new BatchEngine(model, t, null, new BatchEngineOptions { Sequences = 2, Context = 256, PrefillChunk = 8 });
        var system = ChatMessage.System("You are a careful assistant. " + string.Concat(Enumerable.Repeat("Always answer briefly. ", 4)));
        int[] a = ChatTemplate.Encode(t, [system, ChatMessage.User("first question")], true, false);
        int[] b = ChatTemplate.Encode(t, [system, ChatMessage.User("second question")], true, false);
        var first = await engine.Submit(new GenerationJob { Prompt = a, MaxTokens = 8 }).Result;
        Assert.Equal(0, first.CachedPromptTokens);
        var second = await engine.Submit(new GenerationJob { Prompt = b, MaxTokens = 8 }).Result;
        int common = a.AsSpan().CommonPrefixLength(b);
        Assert.Equal(common - common % 8, second.CachedPromptTokens);
        Assert.True(second.CachedPromptTokens >= 8, $"{second.CachedPromptTokens} cached tokens");

        using var fresh = new BatchEngine(model, t, null, new BatchEngineOptions { Sequences = 2, Context = 256, PrefillChunk = 8 });
        Assert.Equal((await fresh.Submit(new GenerationJob { Prompt = b, MaxTokens = 8 }).Result).GeneratedIds, second.GeneratedIds);
    }

    [Fact]
    public async Task Cancelled_Request_FreesItsSlot_OthersContinue()
    {
        var t = ServingModels.Tokenizer;
        using var model = ServingModels.Random();
        using var engine = new BatchEngine(model, t, [], new BatchEngineOptions { Sequences = 1, Context = 512, PrefillChunk = 16, MaxQueue = 4 });
        using var cts = new CancellationTokenSource();
        var endless = engine.Submit(new GenerationJob { Prompt = Prompt(t, 1), MaxTokens = 400, Cancellation = cts.Token });
        var waiting = engine.Submit(new GenerationJob { Prompt = Prompt(t, 2), MaxTokens = 5 });
        await endless.Chunks.ReadAsync();                               // it runs
        Assert.Equal(1, engine.Running);
        Assert.Equal(1, engine.Queued);
        cts.Cancel();
        Assert.Equal(FinishReason.Cancelled, (await endless.Result).Finish);
        var next = await waiting.Result.WaitAsync(TimeSpan.FromSeconds(120));
        Assert.Equal(5, next.GeneratedIds.Length);
        Assert.Equal(FinishReason.Length, next.Finish);
    }

    [Fact]
    public async Task FullQueue_IsRefused_BadRequests_NameTheProblem()
    {
        var t = ServingModels.Tokenizer;
        using var model = ServingModels.Random();
        using var engine = new BatchEngine(model, t, [], new BatchEngineOptions { Sequences = 1, Context = 64, PrefillChunk = 16, MaxQueue = 1 });
        using var cts = new CancellationTokenSource();
        engine.Submit(new GenerationJob { Prompt = [1, 2, 3], MaxTokens = 60, Cancellation = cts.Token });
        engine.Submit(new GenerationJob { Prompt = [1, 2, 3], MaxTokens = 60, Cancellation = cts.Token });
        var busy = Assert.Throws<EngineBusyException>(() => engine.Submit(new GenerationJob { Prompt = [1], MaxTokens = 1 }));
        Assert.Contains("queue holds 1", busy.Message);
        cts.Cancel();

        Assert.Contains("64", Assert.Throws<ArgumentException>(() => engine.Submit(new GenerationJob { Prompt = new int[64] })).Message);
        Assert.Contains("empty", Assert.Throws<ArgumentException>(() => engine.Submit(new GenerationJob { Prompt = [] })).Message);
        Assert.Contains("vocabulary", Assert.Throws<ArgumentException>(() => engine.Submit(new GenerationJob { Prompt = [-1] })).Message);
        Assert.Contains("max_tokens", Assert.Throws<ArgumentException>(() => engine.Submit(new GenerationJob { Prompt = [1], MaxTokens = 0 })).Message);
    }
}
