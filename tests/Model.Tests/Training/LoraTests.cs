using Qwen3Gen.Checkpoints;
using Qwen3Gen.Definitions;
using Qwen3Gen.Inference;
using Qwen3Gen.Kernels;
using Qwen3Gen.Tokenization;
using Qwen3Gen.Training;
using Qwen3Gen.Training.Lora;
using Xunit.Abstractions;
using Qwen3Gen.Models;

namespace Qwen3Gen.Model.Tests;

/// <summary>
/// LoRA adapters on a frozen base (the generated backward skipping the base's weight gradients): their gradients against
/// central finite differences of the loss and against the full gradient of the merged model projected by hand in double;
/// a BF16 base against an F32 one; training leaves every base weight as it was; the PEFT files reload and merge into a
/// second model (and the checkpoint and a merged export) with the same weights and logits; the memory estimate against
/// what a step allocates, and the issue's bar (LoRA under half of a full fine-tune) on the 0.6B shape.
/// </summary>
[Collection("Workers")]
public class LoraTests(ITestOutputHelper output) : IClassFixture<TestCatalog>
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
        return lora;
    }

    private static (int[] Ids, int[] Targets) Batch(int seed, int batch, int seqLen)
    {
        var rng = new Random(seed);
        var ids = Enumerable.Range(0, batch * seqLen).Select(_ => rng.Next(256)).ToArray();
        return (ids, CausalLm.ShiftedTargets(ids, batch, seqLen));
    }

    /// <summary>Forward and backward with the adapters on the frozen base; returns the adapters' gradients.</summary>
    private static float[] AdapterGradients(IQwen3Model model, LoraAdapter lora, int[] ids, int[] targets, int batch, int seqLen)
    {
        model.Adapters = lora;
        lora.ZeroGradients();
        model.Forward(ids, targets, batch, seqLen);
        model.Backward();
        return lora.Gradients.Slice(0, (int)lora.Count).ToArray();
    }

    [Fact]
    public void AdapterGradients_MatchFiniteDifferences()
    {
        using var model = TrainTiny.Create();
        TestWeights.Randomize(model, 21, std: 0.15f);
        using var lora = RandomAdapter(model, 5);
        var (ids, targets) = Batch(6, 2, 9);
        var grads = AdapterGradients(model, lora, ids, targets, 2, 9);
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
                double plus = model.Forward(ids, targets, 2, 9);
                p[0] = original - h;
                double minus = model.Forward(ids, targets, 2, 9);
                p[0] = original;
                double fd = (plus - minus) / (2 * h), analytic = grads[t.Offset + i];
                Assert.True(Math.Abs(fd - analytic) <= 3e-4 + 3e-2 * Math.Abs(analytic), $"{t.Name}[{i}]: analytic {analytic:E4}, finite difference {fd:E4}");
                checkedCount++;
            }
        }
        output.WriteLine($"{checkedCount} adapter elements checked against finite differences");
    }

    /// <summary>
    /// The adapters' gradients from the frozen-base backward against the full gradient G = ∂L/∂W' of a second model holding
    /// the merged weights W' = W₀ + s·B·A, projected by hand in double (∂L/∂B = s·G·Aᵀ, ∂L/∂A = s·Bᵀ·G); and the frozen-base
    /// backward leaves a gradient buffer it was given untouched (no weight gradient is computed).
    /// </summary>
    [Fact]
    public void AdapterGradients_AreTheFullGradientProjected_AndTheBaseGetsNone()
    {
        using var model = TrainTiny.Create();
        TestWeights.Randomize(model, 22);
        using var lora = RandomAdapter(model, 8);
        var (ids, targets) = Batch(9, 3, 11);

        using var merged = TrainTiny.Create();
        foreach (var t in merged.Tensors) merged.Weights.Set(t, model.Weights.Data.Slice(t.Offset, (int)t.Length));
        lora.MergeInto(merged);
        merged.ZeroGradients();
        merged.Forward(ids, targets, 3, 11);
        merged.Backward();

        model.Gradients.Slice(0, (int)model.Gradients.Length).Fill(float.NaN);   // a sentinel: the frozen base must not touch it
        var grads = AdapterGradients(model, lora, ids, targets, 3, 11);
        Assert.All(model.Gradients.Slice(0, (int)model.Gradients.Length).ToArray(), g => Assert.True(float.IsNaN(g)));

        double s = Config.Alpha / Config.Rank;
        foreach (var w in LoraAdapter.TargetTensors(model, Config))
        {
            int outDim = w.Shape[0], inDim = w.Shape[1], r = Config.Rank;
            string module = "base_model.model." + w.Name[..^".weight".Length];
            var a = lora.Tensors.Single(t => t.Name == module + ".lora_A.weight");
            var b = lora.Tensors.Single(t => t.Name == module + ".lora_B.weight");
            var g = merged.Gradients.Slice(w.Offset, (int)w.Length).ToArray();
            var av = lora.Parameters.Slice(a.Offset, (int)a.Length).ToArray();
            var bv = lora.Parameters.Slice(b.Offset, (int)b.Length).ToArray();
            for (int o = 0; o < outDim; o++)
                for (int k = 0; k < r; k++)
                {
                    double e = 0;
                    for (int i = 0; i < inDim; i++) e += (double)g[o * inDim + i] * av[k * inDim + i];
                    float got = grads[b.Offset + o * r + k];
                    Assert.True(Math.Abs(s * e - got) <= 1e-6 + 1e-4 * Math.Abs(s * e), $"{b.Name}[{o},{k}]: {got} vs s·G·Aᵀ = {s * e}");
                }
            for (int k = 0; k < r; k++)
                for (int i = 0; i < inDim; i++)
                {
                    double e = 0;
                    for (int o = 0; o < outDim; o++) e += (double)bv[o * r + k] * g[o * inDim + i];
                    float got = grads[a.Offset + k * inDim + i];
                    Assert.True(Math.Abs(s * e - got) <= 1e-6 + 1e-4 * Math.Abs(s * e), $"{a.Name}[{k},{i}]: {got} vs s·Bᵀ·G = {s * e}");
                }
        }
    }

    /// <summary>
    /// A BF16 frozen base computes exactly what an F32 base holding the same (BF16-representable) values does: the kernels
    /// widen BF16 exactly and run the same FMA chains, so loss, logits and the adapters' gradients agree bit for bit, on 1 and 2 threads.
    /// </summary>
    [Fact]
    public void Bf16Base_GivesBitForBit_WhatAnF32BaseWithTheSameValuesGives()
    {
        using var f32 = TrainTiny.Create();
        TestWeights.Randomize(f32, 24, std: 0.1f);
        using var bf16 = TrainTiny.Create(WeightFormat.BF16);
        foreach (var t in f32.Tensors)
        {
            var values = f32.Weights.Data.Slice(t.Offset, (int)t.Length).ToArray();
            if (t.IsMatrix) for (int i = 0; i < values.Length; i++) values[i] = BF16.FromSingle(values[i]).ToSingle();
            f32.Weights.Set(t, values);
            bf16.Weights.Set(t, values);
        }
        using var loraA = RandomAdapter(f32, 11);
        using var loraB = RandomAdapter(bf16, 11);
        var (ids, targets) = Batch(12, 2, 10);
        int threads = Threading.Workers.Threads;
        try
        {
            foreach (int n in new[] { 1, 2 })
            {
                Threading.Workers.Threads = n;
                var expected = AdapterGradients(f32, loraA, ids, targets, 2, 10);
                var got = AdapterGradients(bf16, loraB, ids, targets, 2, 10);
                Assert.Equal(expected, got);
                f32.Forward(ids, targets, 2, 10);
                bf16.Forward(ids, targets, 2, 10);
                Assert.Equal(f32.Logits.ToArray(), bf16.Logits.ToArray());
            }
        }
        finally { Threading.Workers.Threads = threads; }
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
        string run = Path.Combine(temp.Dir, "run");
        using var lora = LoraAdapter.Create(model, Config, seed: 4);
        using (var trainer = new Trainer(model, data, options, lora: lora))
        {
            for (int i = 0; i < 4; i++) Assert.True(float.IsFinite(trainer.TrainStep().Loss));
            lora.Save(temp.Dir);
            trainer.Save(run);                                                         // model.safetensors: the merged weights
        }
        Assert.Null(model.Adapters);                                                   // the trainer took its adapters off again
        Assert.Equal(before, model.Weights.Data.Slice(0, (int)model.Weights.Count).ToArray());   // every base weight as it was
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

        // What the trained adapters compute on the base, unmerged:
        var (ids, _) = Batch(10, 2, 12);
        model.Adapters = lora;
        model.Forward(ids, [], 2, 12);
        var adapted = model.Logits.ToArray();
        model.Adapters = null;

        // A second model from the base weights plus the saved adapter, merged: the same logits up to rounding (merging
        // reorders the sums), its weights bit for bit those of the run's checkpoint, and a merged export loads back with its logits.
        using var second = TrainTiny.Create();
        foreach (var t in second.Tensors) second.Weights.Set(t, before.AsSpan((int)t.Offset, (int)t.Length));
        using (var reloaded = LoraAdapter.Load(second, temp.Dir)) reloaded.MergeInto(second);
        var mergedWeights = second.Weights.Data.Slice(0, (int)second.Weights.Count).ToArray();
        var targets = LoraAdapter.TargetTensors(model, Config).Select(t => t.Name).ToHashSet();
        foreach (var t in model.Tensors)
        {
            bool same = before.AsSpan((int)t.Offset, (int)t.Length).SequenceEqual(mergedWeights.AsSpan((int)t.Offset, (int)t.Length));
            Assert.True(same != targets.Contains(t.Name), $"{t.Name}: {(same ? "unchanged" : "changed")} by the merge");
        }
        second.Forward(ids, [], 2, 12);
        var expected = second.Logits.ToArray();
        double worst = expected.Zip(adapted, (x, y) => Math.Abs(x - y)).Max();
        output.WriteLine($"adapters on the base vs merged weights: worst logit difference {worst:E2}");
        Assert.True(worst < 1e-4, $"adapters on the base and the merged model differ by {worst} in a logit");

        AssertCheckpointHolds(run, second);

        string tokenizer = Path.Combine(temp.Dir, "tok"), merged = Path.Combine(temp.Dir, "merged");
        TokenizerFolder.WriteByteLevel(tokenizer);
        SnapshotExport.Export(second, merged, ModelFiles.ByteLevel.Generation, tokenizer);
        using var loaded = ModelDirectory.Load(merged, WeightFormat.F32);
        loaded.Model.Forward(ids, [], 2, 12);
        Assert.Equal(expected, loaded.Model.Logits.ToArray());
    }

    /// <summary>The run's checkpoint/model.safetensors holds <paramref name="merged"/>'s weights bit for bit.</summary>
    private static void AssertCheckpointHolds(string run, IQwen3Model merged)
    {
        using var file = SafeTensorsFile.Open(Path.Combine(run, TrainingCheckpoint.FolderName, "model.safetensors"));
        foreach (var t in merged.Tensors)
        {
            var saved = new float[t.Length];
            file.ReadF32(t.Name, 0, saved);
            Assert.True(saved.AsSpan().SequenceEqual(merged.Weights.Data.Slice(t.Offset, (int)t.Length)), $"{t.Name}: the checkpoint's merged weights differ from MergeInto's");
        }
    }

    [Theory]
    [InlineData(WeightFormat.F32)]
    [InlineData(WeightFormat.BF16)]
    public void Memory_EstimateIsWhatALoraStepAllocates(WeightFormat baseFormat)
    {
        var data = TextDataset.FromBytes(TestWeights.Shakespeare(8_000));
        var options = new TrainingOptions { Steps = 1, Batch = 4, Context = 32, WarmupSteps = 0 };
        var config = new LoraConfig { Rank = 16, Alpha = 32 };
        long start = NativeMemoryStats.AllocatedOnThisThread;
        using (var model = TrainTiny.Create(baseFormat))
        using (var adapter = LoraAdapter.Create(model, config, seed: 1))
        using (var trainer = new Trainer(model, data, options, lora: adapter))
        {
            trainer.TrainStep();
            long lora = NativeMemoryStats.AllocatedOnThisThread - start;
            var (adapterCount, _) = LoraAdapter.Size(TrainTiny.HyperParameters, config);
            var estimate = TrainingMemory.For(TrainTiny.HyperParameters, options.Batch, options.Context)
                .Lora(TrainTiny.HyperParameters, adapterCount, config.Rank, baseFormat, options.Batch, options.Context);
            output.WriteLine($"LoRA r16 on a {baseFormat} base: allocated {lora:N0}, estimated {estimate.Total:N0}");
            Assert.InRange((double)estimate.Total / lora, 0.97, 1.03);
        }
    }

    /// <summary>
    /// The issue's bar on the 0.6B shape: LoRA r16 on all seven projections (BF16 base) needs less than half of a full
    /// fine-tune, by the estimate the two tests above hold to what a step allocates. (Activations are the same for both, so
    /// at batch 4 × 512 without gradient checkpointing they bring the ratio to 0.50: the bar holds where the weights' state dominates.)
    /// </summary>
    [Fact]
    public void Memory_Lora16On06B_IsLessThanHalfOfAFullFineTune()
    {
        var c = Qwen3_0_6B.HyperParameters;
        var config = new LoraConfig { Rank = 16, Alpha = 32 };
        var (adapterCount, _) = LoraAdapter.Size(c, config);
        foreach (var (batch, context, checkpointing) in new[] { (1, 64, false), (2, 64, false), (1, 512, false), (4, 512, true) })
        {
            var full = TrainingMemory.For(c, batch, context, checkpointing);
            var lora = full.Lora(c, adapterCount, config.Rank, WeightFormat.BF16, batch, context);
            output.WriteLine($"batch {batch} × {context}{(checkpointing ? " (gradient checkpointing)" : "")}: full {full.Total / 1e9:F2} GB, LoRA r16 {lora.Total / 1e9:F2} GB, ratio {(double)lora.Total / full.Total:F3}");
            Assert.True(lora.Total < full.Total / 2, $"batch {batch} × {context}: LoRA {lora.Describe()} vs full {full.Describe()}");
        }
        Assert.Equal(10_092_544, adapterCount);
    }
}
