using Qwen3Gen.Checkpoints;
using Qwen3Gen.Inference;
using Qwen3Gen.Tokenization;
using Qwen3Gen.Training;
using Qwen3Gen.Training.Lora;
using Xunit.Abstractions;

namespace Qwen3Gen.Model.Tests;

/// <summary>
/// LoRA adapters: their gradients against central finite differences of the loss and against the full gradient projected
/// by hand in double; training leaves every base weight as it was; the PEFT files reload into a second model (and a merged
/// export) with the same weights and logits; the memory estimate against what a step allocates.
/// </summary>
[Collection("Workers")]
public class LoraTests(ITestOutputHelper output)
{
    private static readonly LoraConfig Config = new() { Rank = 2, Alpha = 4, TargetModules = ["q_proj", "v_proj", "o_proj", "gate_proj", "down_proj"] };

    /// <summary>An adapter with B random too (B = 0 at creation would make ∂L/∂A zero and the check empty).</summary>
    private static LoraAdapter RandomAdapter(IQwen3Model model, int seed)
    {
        var lora = LoraAdapter.Create(model, Config, (ulong)seed);
        var rng = new Random(seed);
        foreach (var t in lora.Tensors.Where(t => t.Name.EndsWith("lora_B.weight", StringComparison.Ordinal)))
        {
            var b = lora.Parameters.Slice(t.Offset, (int)t.Length);
            for (int i = 0; i < b.Length; i++) b[i] = (float)(0.2 * (rng.NextDouble() - 0.5));
        }
        lora.Merge(model);
        return lora;
    }

    private static (int[] Ids, int[] Targets) Batch(int seed, int batch, int seqLen)
    {
        var rng = new Random(seed);
        var ids = Enumerable.Range(0, batch * seqLen).Select(_ => rng.Next(256)).ToArray();
        return (ids, CausalLm.ShiftedTargets(ids, batch, seqLen));
    }

    [Fact]
    public void AdapterGradients_MatchFiniteDifferences()
    {
        using var model = TrainTiny.Create();
        TestWeights.Randomize(model, 21, std: 0.15f);
        using var lora = RandomAdapter(model, 5);
        var (ids, targets) = Batch(6, 2, 9);
        model.ZeroGradients();
        model.Forward(ids, targets, 2, 9);
        model.Backward();
        lora.ZeroGradients();
        lora.ProjectGradients(model.Gradients);
        var grads = lora.Gradients.Slice(0, (int)lora.Count).ToArray();
        const float h = 1e-2f;
        var rng = new Random(7);
        int checkedCount = 0;
        foreach (var t in lora.Tensors)
        {
            int length = (int)t.Length;
            var picks = Enumerable.Range(0, length).OrderByDescending(i => Math.Abs(grads[t.Offset + i])).Take(2)
                .Concat(Enumerable.Range(0, 2).Select(_ => rng.Next(length))).Distinct();
            foreach (int i in picks)
            {
                var p = lora.Parameters.Slice(t.Offset + i, 1);
                float original = p[0];
                p[0] = original + h;
                lora.Merge(model);
                double plus = model.Forward(ids, targets, 2, 9);
                p[0] = original - h;
                lora.Merge(model);
                double minus = model.Forward(ids, targets, 2, 9);
                p[0] = original;
                double fd = (plus - minus) / (2 * h), analytic = grads[t.Offset + i];
                Assert.True(Math.Abs(fd - analytic) <= 3e-4 + 3e-2 * Math.Abs(analytic), $"{t.Name}[{i}]: projected {analytic:E4}, finite difference {fd:E4}");
                checkedCount++;
            }
        }
        output.WriteLine($"{checkedCount} adapter elements checked against finite differences");
    }

    [Fact]
    public void AdapterGradients_AreTheFullGradientProjected()
    {
        using var model = TrainTiny.Create();
        TestWeights.Randomize(model, 22);
        using var lora = RandomAdapter(model, 8);
        var (ids, targets) = Batch(9, 3, 11);
        model.ZeroGradients();
        model.Forward(ids, targets, 3, 11);
        model.Backward();
        lora.ZeroGradients();
        lora.ProjectGradients(model.Gradients);
        double s = Config.Alpha / Config.Rank;
        foreach (var w in LoraAdapter.TargetTensors(model, Config))
        {
            int outDim = w.Shape[0], inDim = w.Shape[1], r = Config.Rank;
            string module = "base_model.model." + w.Name[..^".weight".Length];
            var a = lora.Tensors.Single(t => t.Name == module + ".lora_A.weight");
            var b = lora.Tensors.Single(t => t.Name == module + ".lora_B.weight");
            var g = model.Gradients.Slice(w.Offset, (int)w.Length).ToArray();
            var av = lora.Parameters.Slice(a.Offset, (int)a.Length).ToArray();
            var bv = lora.Parameters.Slice(b.Offset, (int)b.Length).ToArray();
            var dA = lora.Gradients.Slice(a.Offset, (int)a.Length).ToArray();
            var dB = lora.Gradients.Slice(b.Offset, (int)b.Length).ToArray();
            for (int o = 0; o < outDim; o++)
                for (int k = 0; k < r; k++)
                {
                    double e = 0;
                    for (int i = 0; i < inDim; i++) e += (double)g[o * inDim + i] * av[k * inDim + i];
                    Assert.True(Math.Abs(s * e - dB[o * r + k]) <= 1e-6 + 1e-4 * Math.Abs(s * e), $"{b.Name}[{o},{k}]: {dB[o * r + k]} vs s·G·Aᵀ = {s * e}");
                }
            for (int k = 0; k < r; k++)
                for (int i = 0; i < inDim; i++)
                {
                    double e = 0;
                    for (int o = 0; o < outDim; o++) e += (double)bv[o * r + k] * g[o * inDim + i];
                    Assert.True(Math.Abs(s * e - dA[k * inDim + i]) <= 1e-6 + 1e-4 * Math.Abs(s * e), $"{a.Name}[{k},{i}]: {dA[k * inDim + i]} vs s·Bᵀ·G = {s * e}");
                }
        }
    }

    [Fact]
    public void Training_LeavesTheBaseFrozen_AndTheSavedAdapter_ReloadsAndMergesToTheSameLogits()
    {
        using var model = TrainTiny.Create();
        TestWeights.Randomize(model, 23);
        var before = model.Weights.Data.Slice(0, (int)model.Weights.Count).ToArray();
        var data = TextDataset.FromBytes(TestWeights.Shakespeare(8_000));
        var options = new TrainingOptions { Steps = 4, Batch = 2, Context = 16, WarmupSteps = 0, LearningRate = 1e-2, Seed = 3 };
        using var temp = new TempDirectory("lora");
        using (var lora = LoraAdapter.Create(model, Config, seed: 4))
        using (var trainer = new Trainer(model, data, options, lora: lora))
        {
            for (int i = 0; i < 4; i++) Assert.True(float.IsFinite(trainer.TrainStep().Loss));
            lora.Save(temp.Dir);
        }
        var targets = LoraAdapter.TargetTensors(model, Config).Select(t => t.Name).ToHashSet();
        var after = model.Weights.Data.Slice(0, (int)model.Weights.Count).ToArray();
        foreach (var t in model.Tensors)
        {
            bool same = before.AsSpan((int)t.Offset, (int)t.Length).SequenceEqual(after.AsSpan((int)t.Offset, (int)t.Length));
            Assert.True(same != targets.Contains(t.Name), $"{t.Name}: {(same ? "unchanged" : "changed")} after LoRA training");
        }
        using (var doc = System.Text.Json.JsonDocument.Parse(File.ReadAllText(Path.Combine(temp.Dir, "adapter_config.json"))))
        {
            Assert.Equal("LORA", doc.RootElement.GetProperty("peft_type").GetString());
            Assert.Equal(2, doc.RootElement.GetProperty("r").GetInt32());
        }
        using (var file = SafeTensorsFile.Open(Path.Combine(temp.Dir, "adapter_model.safetensors")))
        {
            Assert.Equal([2L, 40L], file.Tensors["base_model.model.model.layers.0.self_attn.q_proj.lora_A.weight"].Shape);
            Assert.Equal([48L, 2L], file.Tensors["base_model.model.model.layers.0.self_attn.q_proj.lora_B.weight"].Shape);
        }

        // A second model from the base weights plus the saved adapter: the same weights bit for bit, so the same logits;
        // and a merged export of it loads back with them too.
        var (ids, _) = Batch(10, 2, 12);
        model.Forward(ids, [], 2, 12);
        var expected = model.Logits.ToArray();
        using var second = TrainTiny.Create();
        foreach (var t in second.Tensors) second.Weights.Set(t, before.AsSpan((int)t.Offset, (int)t.Length));
        using (var reloaded = LoraAdapter.Load(second, temp.Dir)) reloaded.Merge(second);
        Assert.Equal(after, second.Weights.Data.Slice(0, (int)second.Weights.Count).ToArray());
        second.Forward(ids, [], 2, 12);
        Assert.Equal(expected, second.Logits.ToArray());

        string tokenizer = Path.Combine(temp.Dir, "tok"), merged = Path.Combine(temp.Dir, "merged");
        TokenizerFolder.WriteByteLevel(tokenizer);
        SnapshotExport.Export(second, merged, ModelFiles.ByteLevel.Generation, tokenizer);
        using var loaded = ModelDirectory.Load(merged, WeightFormat.F32);
        loaded.Model.Forward(ids, [], 2, 12);
        Assert.Equal(expected, loaded.Model.Logits.ToArray());
    }

    [Fact]
    public void Memory_EstimateIsWhatALoraStepAllocates_AndComparesWithAFullFineTune()
    {
        var data = TextDataset.FromBytes(TestWeights.Shakespeare(8_000));
        var options = new TrainingOptions { Steps = 1, Batch = 4, Context = 32, WarmupSteps = 0 };
        var config = new LoraConfig { Rank = 16, Alpha = 32 };
        long full, lora;
        {
            long start = NativeMemoryStats.AllocatedOnThisThread;
            using var model = TrainTiny.Create();
            using var trainer = new Trainer(model, data, options);
            trainer.TrainStep();
            full = NativeMemoryStats.AllocatedOnThisThread - start;
        }
        {
            long start = NativeMemoryStats.AllocatedOnThisThread;
            using var model = TrainTiny.Create();
            using var adapter = LoraAdapter.Create(model, config, seed: 1);
            using var trainer = new Trainer(model, data, options, lora: adapter);
            trainer.TrainStep();
            lora = NativeMemoryStats.AllocatedOnThisThread - start;
        }
        var estimate = TrainingMemory.For(TrainTiny.Definition, options.Batch, options.Context);
        var (adapterCount, targetCount) = LoraAdapter.Size(TrainTiny.Definition, config);
        var loraEstimate = estimate.Lora(adapterCount, targetCount);
        output.WriteLine($"full: allocated {full:N0}, estimated {estimate.Total:N0}; LoRA r16: allocated {lora:N0}, estimated {loraEstimate.Total:N0}; ratio {(double)lora / full:F3}");
        Assert.InRange((double)loraEstimate.Total / lora, 0.97, 1.03);
    }
}
