using Qwen3Gen.Distributed;
using Qwen3Gen.Inference;
using Qwen3Gen.Sampling;
using Qwen3Gen.TensorParallel;
using Xunit.Abstractions;

namespace Qwen3Gen.Model.Tests.Chat;

/// <summary>
/// A chat over the snapshot split 2 ways (each rank a thread of a <see cref="ThreadGroup"/>, loading its slice of the
/// BF16 shards, sampling with a <see cref="ShardedSampler"/>) against the same chat in one process: the same replies,
/// token for token, on every rank, greedy and sampled (top-k: the sharded sampler draws exactly Sampler's ids).
/// </summary>
[Collection(ChatModelFolderCollection.Name)]
public class TensorParallelChatTests(ChatModelFolderFixture fx, ITestOutputHelper output)
{
    private static readonly string[] Turns = ["Hello! Who are you?", "Tell me a short story about a fox."];

    public static TheoryData<string> Samplings => new() { "greedy", "qwen-thinking" };

    private static ChatSessionOptions Options(string sampling) => new()
    {
        MaxNewTokens = 24, ContextLength = 256, Seed = 7,
        Sampling = sampling == "greedy" ? SamplingOptions.Greedy : SamplingOptions.QwenThinking,
    };

    [Theory, MemberData(nameof(Samplings))]
    public void TwoRanks_ReplyAsOneProcess(string sampling)
    {
        var expected = new List<int[]>();
        using (var session = ChatSession.Create(fx.Loaded, fx.Tokenizer, Options(sampling)))
            foreach (var turn in Turns) expected.Add(session.Send(turn).Reply.GeneratedIds);

        var ranks = ThreadGroup.Run(2, comm =>
        {
            using var loaded = TensorParallelFolder.Load(comm, fx.Directory);
            var options = Options(sampling);
            using var decoder = loaded.Model.CreateSession(options.ContextLength);
            var sampler = new ShardedSampler(comm, loaded.Config.Vocab, decoder.VocabStart, decoder.VocabCount, options.Sampling!);
            using var engine = new ChatEngine(decoder, sampler, fx.Tokenizer, loaded.Generation.EosTokenIds.Concat(fx.Tokenizer.EosIds));
            using var session = new ChatSession(engine, options);
            return Turns.Select(t => session.Send(t).Reply.GeneratedIds).ToList();
        });
        output.WriteLine($"{sampling}: {string.Join(" | ", expected.Select(ids => fx.Tokenizer.Decode(ids)))}");
        foreach (var rank in ranks)
            for (int t = 0; t < Turns.Length; t++) Assert.Equal(expected[t], rank[t]);
    }

    /// <summary>Plain greedy generation with no stop id, 32 tokens: every rank's ids equal one process's.</summary>
    [Fact]
    public void TwoRanks_GreedyTextGeneration_AsOneProcess()
    {
        int[] prompt = fx.Tokenizer.Encode("The quick brown fox");
        var options = new GenerationOptions { MaxNewTokens = 32, StopTokenIds = [] };
        var one = new TextGeneration(fx.Loaded.Model.CreateSession(64), new Sampler(fx.Loaded.Config.Vocab, SamplingOptions.Greedy), fx.Tokenizer);
        one.Generate(prompt, options, TextWriter.Null);
        var expected = one.Generated.ToArray();
        one.Session.Dispose();

        var ranks = ThreadGroup.Run(2, comm =>
        {
            using var loaded = TensorParallelFolder.Load(comm, fx.Directory);
            using var decoder = loaded.Model.CreateSession(64);
            var generation = new TextGeneration(decoder, new ShardedSampler(comm, loaded.Config.Vocab, decoder.VocabStart, decoder.VocabCount, SamplingOptions.Greedy), fx.Tokenizer);
            generation.Generate(prompt, options, TextWriter.Null);
            return generation.Generated.ToArray();
        });
        output.WriteLine(fx.Tokenizer.Decode(expected));
        Assert.Equal(32, expected.Length);
        Assert.All(ranks, ids => Assert.Equal(expected, ids));
    }
}

[Collection(MoeChatSnapshotCollection.Name)]
public class MoeTensorParallelChatTests(MoeChatModelFolderFixture fx, ITestOutputHelper output) : TensorParallelChatTests(fx, output);
