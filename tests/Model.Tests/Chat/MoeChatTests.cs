using System.Text.Json.Nodes;
using Qwen3Gen.Inference;
using Xunit.Abstractions;
using Qwen3Gen.Models;

namespace Qwen3Gen.Model.Tests.Chat;

// The dense chat suites, rerun unchanged on the MoE twin's snapshot (Qwen3ChatMoeTest, qwen3_moe, BF16, two shards):
// streaming == decoding the ids, greedy == an independent prefill/argmax loop, KV prefix reuse == a fresh engine,
// history trimming, the IChatClient, and the generate / chat commands with their damaged-directory errors.

[Collection(MoeChatSnapshotCollection.Name)]
public class MoeChatSessionTests(MoeChatModelFolderFixture fx, ITestOutputHelper output) : ChatSessionTests(fx, output);

[Collection(MoeChatSnapshotCollection.Name)]
public class MoeChatCommandTests(MoeChatModelFolderFixture fx) : ChatCommandTests(fx);

[Collection(MoeChatSnapshotCollection.Name)]
public class MoeQwen3ChatClientTests(MoeChatModelFolderFixture fx) : Qwen3ChatClientTests(fx);

/// <summary>What only the MoE snapshot has: a qwen3_moe checkpoint routed through the experts, and KV decoding == full recompute.</summary>
[Collection(MoeChatSnapshotCollection.Name)]
public class MoeChatTests(MoeChatModelFolderFixture fx, ITestOutputHelper output)
{
    [Fact]
    public void Snapshot_IsAQwen3MoeCheckpoint_LoadedIntoTheMoeDefinition()
    {
        var config = JsonNode.Parse(File.ReadAllText(Path.Combine(fx.Directory, "config.json")))!;
        Assert.Equal("qwen3_moe", (string?)config["model_type"]);
        Assert.Equal(4, (int?)config["num_experts"]);
        Assert.Equal(2, (int?)config["num_experts_per_tok"]);
        Assert.Equal(32, (int?)config["moe_intermediate_size"]);
        Assert.True((bool?)config["norm_topk_prob"]);

        var model = Assert.IsAssignableFrom<IMoeModel>(fx.Loaded.Model);
        Assert.True(model.IsSparseLayer(0) && model.IsSparseLayer(1));
        // embedding + 2 layers × (q, k, v, o, 4 norms, router, 4 experts × gate/up/down) + final norm, all read, none left over.
        Assert.Equal(1 + 2 * (4 + 4 + 1 + 4 * 3) + 1, fx.Loaded.Report.Loaded);
        Assert.Empty(fx.Loaded.Report.ExtraTensors);
        var names = fx.Loaded.Model.Tensors.Select(t => t.Name).ToHashSet();
        Assert.Contains("model.layers.1.mlp.gate.weight", names);
        Assert.Contains("model.layers.0.mlp.experts.3.down_proj.weight", names);
        Assert.DoesNotContain("model.layers.0.mlp.gate_proj.weight", names);
    }

    [Fact]
    public void Prompt_IsRoutedToSeveralExperts()
    {
        // A random router still spreads a real prompt over the experts: the test exercises routing, not one expert.
        var model = (IMoeModel)fx.Loaded.Model;
        var ids = fx.Tokenizer.Encode("The quick brown fox jumps over the lazy dog, and then some more words follow.");
        // Inference buffers keep the routing of one layer at a time, so only the last layer's counts are read.
        model.Forward(ids, [], 1, ids.Length);
        int[] load = model.ExpertLoad(1);
        output.WriteLine($"layer 1: expert load [{string.Join(", ", load)}] over {ids.Length} tokens");
        Assert.Equal(2 * ids.Length, load.Sum());                    // top 2 per token
        Assert.True(load.Count(n => n > 0) >= 3, "at least 3 of 4 experts get tokens");
    }

    [Theory]
    [InlineData(1)]
    [InlineData(5)]
    [InlineData(128)]
    public void KvDecoding_EqualsFullRecompute(int chunk)
    {
        // Logits of every position from one Forward over the whole sequence, against prefill (in chunks) + one Decode
        // per token; then rewind and replay. The routing of each token must not depend on how the prompt was cut.
        var model = fx.Loaded.Model;
        int vocab = model.Config.Vocab;
        var ids = fx.Tokenizer.Encode("In a hole in the ground there lived a hobbit. Not a nasty, dirty, wet hole, filled with the ends of worms.");
        int length = ids.Length;
        model.Forward(ids, [], 1, length);
        var full = model.Logits.ToArray();

        (double, double) within = (0, 1e-5);
        using var session = model.CreateSession(capacity: length + 4, chunk: chunk);
        var last = session.Prefill(ids.AsSpan(0, 9)).ToArray();
        Compare.Close(output, "prefill[8]", full.AsSpan(8 * vocab, vocab), last, within);
        double worst = 0;
        for (int t = 9; t < length; t++)
        {
            var step = session.Decode(ids[t]);
            var want = full.AsSpan(t * vocab, vocab);
            Compare.Close(null, $"decode[{t}]", want, step, within);
            for (int v = 0; v < vocab; v++) worst = Math.Max(worst, Math.Abs(step[v] - want[v]));
        }
        output.WriteLine($"chunk {chunk}: {length - 9} decode steps, MaxAbsDiff vs full recompute {worst:E2}");
        Assert.Equal(length, session.Position);

        session.Rewind(12);
        var again = session.Prefill(ids.AsSpan(12, length - 12));
        Compare.Close(output, "after rewind", full.AsSpan((length - 1) * vocab, vocab), again, within);
    }
}
