using Xunit.Abstractions;
using Qwen3Gen.Checkpoints;
using Qwen3Gen.Distributed;
using Qwen3Gen.Kernels;
using Qwen3Gen.Models;
using Qwen3Gen.TensorParallel;

namespace Qwen3Gen.Model.Tests;

/// <summary>A model whose 4 KV heads split 4 ways (MoE with 8 experts: 2 per rank), for splits the golden shapes do not allow.</summary>
[Qwen3Model(Vocab = 203, Hidden = 32, Layers = 2, Heads = 8, KvHeads = 4, HeadDim = 8, Ffn = 48,
            RopeTheta = 1e4, TieEmbeddings = false, MaxPositions = 64,
            Experts = 8, ExpertsPerToken = 3, ExpertFfn = 16, NormTopKProb = true, MlpOnlyLayers = new[] { 0 },
            RouterAuxLossCoef = 0.01, OutputRouterLogits = true)]
public partial class FourWayMoe;

/// <summary>
/// Tensor parallelism (each rank a thread of a <see cref="ThreadGroup"/>): the ranks, each loading only its slice from the
/// fixture's safetensors file, against the float64 golden fixtures and against the one-process model.
/// </summary>
public class TensorParallelTests(ITestOutputHelper output) : IClassFixture<TestCatalog>
{
    public static TheoryData<string> TwoWayCases => new() { "dense-tied", "dense-untied", "dense-linear", "dense-yarn", "moe", "moe-mixed" };

    private static ModelDefinition Definition(string caseName) => caseName switch
    {
        "dense-tied" => DenseTied.Definition,
        "dense-untied" => DenseUntied.Definition,
        "dense-linear" => DenseLinear.Definition,
        "dense-yarn" => DenseYarn.Definition,
        "dense-long" => DenseLong.Definition,
        "dense-odd" => DenseOdd.Definition,
        "moe" => MoeTied.Definition,
        "moe-mixed" => MoeMixed.Definition,
        _ => throw new ArgumentException(caseName),
    };

    /// <summary>Rank parts of each row, [rows, count_r] per rank, put side by side into [rows, Vocab].</summary>
    private static float[] Assemble(float[][] parts, TensorSplit[] splits, int rows, int vocab)
    {
        var full = new float[rows * vocab];
        for (int k = 0; k < parts.Length; k++)
            for (int r = 0; r < rows; r++)
                parts[k].AsSpan(r * splits[k].VocabCount, splits[k].VocabCount).CopyTo(full.AsSpan(r * vocab + splits[k].VocabStart));
        return full;
    }

    [Theory, MemberData(nameof(TwoWayCases))]
    public void TwoWay_LogitsAndLoss_MatchGolden(string caseName)
    {
        var expected = new FixtureFile(Path.Combine(FixtureFile.CaseDir(caseName), "expected.safetensors"));
        var (ids, batch, seqLen) = DenseGoldenTests.Inputs(expected);
        var targets = CausalLm.ShiftedTargets(ids, batch, seqLen);
        string checkpoint = Path.Combine(FixtureFile.CaseDir(caseName), "model.safetensors");
        var ranks = ThreadGroup.Run(2, comm =>
        {
            using var model = TensorParallelModels.Load(comm, Definition(caseName), checkpoint);
            float loss = model.Forward(ids, targets, batch, seqLen);
            return (loss, logits: model.LocalLogits.ToArray(), model.Split);
        });
        var logits = Assemble(ranks.Select(r => r.logits).ToArray(), ranks.Select(r => r.Split).ToArray(), batch * seqLen, Definition(caseName).Config.Vocab);
        Compare.Close(output, "logits", expected.F32("logits"), logits, Tolerances.Logits);
        // MoE with output_router_logits: the total (cross-entropy + coef · aux), as the one-process model returns it.
        string lossKey = expected.Has("total_loss") && Definition(caseName).Config.OutputRouterLogits ? "total_loss" : "loss";
        foreach (var rank in ranks) Compare.Close(output, lossKey, expected.F32(lossKey), [rank.loss], Tolerances.Loss);
    }

    [Fact]
    public void FourWay_Moe_MatchesOneProcess_ForwardAndDecode()
    {
        using var dir = new TempDirectory("tp4");
        using var reference = FourWayMoe.Create();
        TestWeights.Randomize(reference, 7, std: 0.2f);
        CheckpointSaver.Save(reference.Tensors, reference.Weights, dir["model.safetensors"]);
        int[] ids = [5, 17, 200, 3, 99, 150, 42, 8, 1, 77, 64, 128];
        var targets = CausalLm.ShiftedTargets(ids, 2, 6);
        float expectedLoss = reference.Forward(ids, targets, 2, 6);
        float[] expectedLogits = reference.Logits.ToArray();

        using var session = reference.CreateSession(32, chunk: 4);
        var expectedSteps = new List<float[]> { session.Prefill([9, 10, 11, 12, 13]).ToArray() };
        foreach (int t in new[] { 14, 15, 16 }) expectedSteps.Add(session.Decode(t).ToArray());

        var ranks = ThreadGroup.Run(4, comm =>
        {
            using var model = TensorParallelModels.Load(comm, FourWayMoe.Definition, dir["model.safetensors"]);
            float loss = model.Forward(ids, targets, 2, 6);
            var logits = model.LocalLogits.ToArray();
            // The memory the rank's weights take: its slice, F32, about a quarter of the model's (checked exactly below).
            Assert.Equal(model.Split.Count * 4, model.Weights.Bytes);
            using var s = model.CreateSession(32, chunk: 4);
            var steps = new List<float[]> { s.Prefill([9, 10, 11, 12, 13]).ToArray() };
            foreach (int t in new[] { 14, 15, 16 }) steps.Add(s.Decode(t).ToArray());
            return (loss, logits, steps, model.Split);
        });
        var splits = ranks.Select(r => r.Split).ToArray();
        Assert.Equal([0, 50, 101, 152], splits.Select(s => s.VocabStart));          // 203 = 50 + 51 + 51 + 51
        long replicated = splits[0].Tensors.Where(t => t.Kind == SplitKind.Replicated).Sum(t => t.Local.Length);
        foreach (var split in splits)
            Assert.True(split.Count <= (reference.Weights.Count - replicated) / 4 + replicated + 2 * 32, $"rank {split.Rank}: {split.Count} of {reference.Weights.Count}");
        Compare.Close(output, "logits", expectedLogits, Assemble(ranks.Select(r => r.logits).ToArray(), splits, 12, 203), Tolerances.Logits);
        foreach (var rank in ranks) Compare.Close(output, "loss", [expectedLoss], [rank.loss], Tolerances.Loss);
        for (int step = 0; step < expectedSteps.Count; step++)
            Compare.Close(output, $"decode step {step}", expectedSteps[step],
                          Assemble(ranks.Select(r => r.steps[step]).ToArray(), splits, 1, 203), Tolerances.Logits);
    }

    [Fact]
    public void EachRank_HoldsItsShareOfTheWeights_PlusTheReplicatedNorms()
    {
        var config = FourWayMoe.Definition.Config;
        long full = FourWayMoe.Definition.ParameterCount;
        foreach (int ways in new[] { 2, 4 })
        {
            long replicated = 0;
            for (int rank = 0; rank < ways; rank++)
            {
                var split = new TensorSplit(config, ways, rank);
                replicated = split.Tensors.Where(t => t.Kind == SplitKind.Replicated).Sum(t => t.Local.Length);
                long vocabRemainder = 2L * config.Hidden;                          // 203 rows: a rank may hold one more row of each vocabulary matrix
                Assert.True(split.Count <= (full - replicated) / ways + replicated + vocabRemainder,
                            $"rank {rank} of {ways}: {split.Count} elements of {full}");
                Assert.Equal(split.Count, split.Tensors.Sum(t => t.Local.Length));
            }
            // Every element of the model is held by exactly one rank, or by all (the replicated tensors).
            long total = Enumerable.Range(0, ways).Sum(r => new TensorSplit(config, ways, r).Count);
            Assert.Equal(full + (ways - 1) * replicated, total);
        }
    }

    [Theory]
    [InlineData("dense-long", 2, "num_key_value_heads = 1")]
    [InlineData("dense-odd", 2, "num_key_value_heads = 3")]
    [InlineData("dense-tied", 3, "supported splits are 1, 2, 4, 8")]
    [InlineData("moe", 4, "num_key_value_heads = 2")]
    public void ASplitThatCannotKeepWholeHeads_IsRefused_SayingWhy(string caseName, int ways, string reason)
    {
        var problem = TensorSplit.Problem(Definition(caseName).Config, ways);
        Assert.NotNull(problem);
        Assert.Contains(reason, problem);
        Assert.Throws<ArgumentException>(() => new TensorSplit(Definition(caseName).Config, ways, 0));
    }

    [Fact]
    public void ASlice_SpanningTwoShards_OfABf16Snapshot_LoadsAsTheWholeFile()
    {
        // The golden dense-untied weights as a BF16 snapshot in two shards: layer 0 and the embedding in one, the rest in
        // the other, so every rank's slice comes from both. Reference: one process on the same BF16 values.
        using var dir = new TempDirectory("tp-shards");
        using var reference = DenseGoldenTests.Load("dense-untied");
        var shards = new[] { new SafeTensorsWriter(), new SafeTensorsWriter() };
        var map = new Dictionary<string, string>();
        foreach (var t in reference.Tensors)
        {
            var values = new float[t.Length];
            reference.Weights.Get(t, values);
            var bf16 = values.Select(BF16.FromSingle).ToArray();
            reference.Weights.Set(t, bf16.Select(b => b.ToSingle()).ToArray());          // the reference holds the same rounded values
            int shard = t.Name.StartsWith("model.layers.0.") || t.Name.StartsWith("model.embed") ? 0 : 1;
            shards[shard].AddBF16(t.Name, t.Shape.Select(d => (long)d).ToArray(), bf16);
            map[t.Name] = $"model-0000{shard + 1}-of-00002.safetensors";
        }
        shards[0].Save(dir["model-00001-of-00002.safetensors"]);
        shards[1].Save(dir["model-00002-of-00002.safetensors"]);
        File.WriteAllText(dir["model.safetensors.index.json"], System.Text.Json.JsonSerializer.Serialize(new { metadata = new { }, weight_map = map }));
        int[] ids = [3, 1, 4, 1, 5, 9, 2, 6];
        reference.Forward(ids, [], 1, 8);
        var expected = reference.Logits.ToArray();

        var ranks = ThreadGroup.Run(2, comm =>
        {
            using var model = TensorParallelModels.Load(comm, DenseUntied.Definition, dir.Dir, WeightFormat.BF16);
            Assert.Equal(WeightFormat.BF16, model.Weights.Format);
            model.Forward(ids, [], 1, 8);
            return (logits: model.LocalLogits.ToArray(), model.Split);
        });
        Compare.Close(output, "logits", expected, Assemble(ranks.Select(r => r.logits).ToArray(), ranks.Select(r => r.Split).ToArray(), 8, 300), Tolerances.Logits);
    }

    [Fact]
    public void RanksLoadingDifferentModels_FailOnEveryRank_NamingTheOther()
    {
        string checkpoint = Path.Combine(FixtureFile.CaseDir("dense-tied"), "model.safetensors");
        var error = Assert.Throws<AggregateException>(() => ThreadGroup.Run(2, comm =>
            TensorParallelModels.Load(comm, comm.Rank == 0 ? DenseTied.Definition : MoeTied.Definition, checkpoint), TimeSpan.FromSeconds(30)));
        var inner = Assert.IsType<InvalidOperationException>(error.InnerException);
        Assert.Contains("a different model, configuration or format", inner.Message);
    }

    /// <summary>
    /// GGUF files split 2 ways, each rank copying its rows / block-aligned columns in the stored type: the same criteria
    /// as the one-process engine on stored blocks (GgufGoldenTests): NMSE of all logits ≤ 5e-4 against the float64 truth,
    /// loss within 2e-3 (F32 file: the float tolerances).
    /// </summary>
    [Theory]
    [InlineData("f32")]
    [InlineData("q8_0")]
    [InlineData("q4_0")]
    public void TwoWay_Gguf_MatchesGolden(string type)
    {
        var expected = new FixtureFile(GgufGoldenTests.CaseFile($"expected-{type}.safetensors"));
        var (ids, batch, seqLen) = DenseGoldenTests.Inputs(expected);
        var targets = CausalLm.ShiftedTargets(ids, batch, seqLen);
        var ranks = ThreadGroup.Run(2, comm =>
        {
            using var model = TensorParallelModels.Load(comm, DenseQ.Definition, GgufGoldenTests.CaseFile($"model-{type}.gguf"));
            Assert.Equal(WeightFormat.Quantized, model.Weights.Format);
            float loss = model.Forward(ids, targets, batch, seqLen);
            return (loss, logits: model.LocalLogits.ToArray(), model.Split);
        });
        var logits = Assemble(ranks.Select(r => r.logits).ToArray(), ranks.Select(r => r.Split).ToArray(), batch * seqLen, 272);
        var want = expected.F32("logits");
        if (type == "f32")
        {
            Compare.Close(output, "logits", want, logits, Tolerances.GgufLogits);
            Compare.Close(output, "loss", expected.F32("loss"), [ranks[0].loss], Tolerances.GgufLoss);
            return;
        }
        double err = 0, norm = 0;
        for (int i = 0; i < want.Length; i++) { err += ((double)logits[i] - want[i]) * ((double)logits[i] - want[i]); norm += (double)want[i] * want[i]; }
        output.WriteLine($"{type}: NMSE {err / norm:E2}, loss {ranks[0].loss} vs {expected.F32("loss")[0]}");
        Assert.True(err / norm <= Tolerances.GgufInt8Nmse, $"{type}: NMSE {err / norm:E3}");
        Assert.All(ranks, r => Assert.True(Math.Abs(r.loss - expected.F32("loss")[0]) <= Tolerances.GgufInt8Loss));
    }

    [Fact]
    public void AColumnSplit_ThroughKQuantBlocks_IsRefused_NamingTheFileAndTensor()
    {
        string file = GgufGoldenTests.CaseFile("model-q4_k_m.gguf");
        var error = Assert.Throws<AggregateException>(() => ThreadGroup.Run(2, comm => TensorParallelModels.Load(comm, DenseQ.Definition, file), TimeSpan.FromSeconds(30)));
        var inner = Assert.IsType<InvalidDataException>(error.InnerException);
        Assert.Contains(file, inner.Message);
        Assert.Contains("256-element blocks", inner.Message);
    }

    /// <summary>
    /// A Qwen3-MoE GGUF (the moe golden weights as Q8_0, experts stacked per layer: each rank takes its experts' slabs)
    /// split 2 ways against the same file in one process on its stored blocks: the same kernels on the same blocks, so
    /// the logits agree to the rounding of the partial sums.
    /// </summary>
    [Fact]
    public void TwoWay_MoeGguf_WithStackedExperts_MatchesOneProcess()
    {
        using var dir = new TempDirectory("tp-moe-gguf");
        string path = dir["moe-q8_0.gguf"];
        using (var source = DenseGoldenTests.Load("moe"))
            GgufExport.Write(source, GgufRecipe.Q8_0, path, tokenizerDirectory: null, name: "moe", byteLevel: true);
        var expected = new FixtureFile(Path.Combine(FixtureFile.CaseDir("moe"), "expected.safetensors"));
        var (ids, batch, seqLen) = DenseGoldenTests.Inputs(expected);
        var targets = CausalLm.ShiftedTargets(ids, batch, seqLen);
        float[] one;
        float oneLoss;
        using (var loaded = Inference.ModelDirectory.Load(path))
        {
            oneLoss = loaded.Model.Forward(ids, targets, batch, seqLen);
            one = loaded.Model.Logits.ToArray();
        }
        var ranks = ThreadGroup.Run(2, comm =>
        {
            using var model = TensorParallelModels.Load(comm, MoeTied.Definition, path);
            Assert.Equal(2, model.Split.ExpertCount);
            float loss = model.Forward(ids, targets, batch, seqLen);
            return (loss, logits: model.LocalLogits.ToArray(), model.Split);
        });
        Compare.Close(output, "logits", one, Assemble(ranks.Select(r => r.logits).ToArray(), ranks.Select(r => r.Split).ToArray(), batch * seqLen, 256), Tolerances.Logits);
        foreach (var rank in ranks) Compare.Close(output, "loss", [oneLoss], [rank.loss], Tolerances.Loss);
    }
}
