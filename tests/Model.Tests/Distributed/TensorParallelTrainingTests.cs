using Xunit.Abstractions;
using Qwen3Gen.Checkpoints;
using Qwen3Gen.Distributed;
using Qwen3Gen.Models;
using Qwen3Gen.Optim;
using Qwen3Gen.TensorParallel;
using Qwen3Gen.Training;

namespace Qwen3Gen.Model.Tests;

/// <summary>A dense model whose 4 KV heads split 4 ways, with a vocabulary (203) that does not divide evenly.</summary>
[Qwen3Model(Vocab = 203, Hidden = 32, Layers = 2, Heads = 8, KvHeads = 4, HeadDim = 8, Ffn = 48,
            RopeTheta = 1e4, TieEmbeddings = false, MaxPositions = 64)]
public partial class FourWayDense;

/// <summary>
/// Tensor-parallel training (ranks as threads of a <see cref="ThreadGroup"/>): each rank's gradient slice against the
/// same slice of the float64 golden gradient; 2-way tensor × 2-way data parallelism and three AdamW steps against the
/// one-process generated model.
/// </summary>
public class TensorParallelTrainingTests(ITestOutputHelper output)
{
    private static ModelDefinition Definition(string caseName) => caseName switch
    {
        "dense-tied" => DenseTied.Definition,
        "dense-untied" => DenseUntied.Definition,
        _ => throw new ArgumentException(caseName),
    };

    private static string Checkpoint(string caseName) => Path.Combine(FixtureFile.CaseDir(caseName), "model.safetensors");

    /// <summary>The part of a whole tensor [rows, cols] (row-major) that <paramref name="t"/> says a rank holds, written out from its kind.</summary>
    private static float[] SliceOf(float[] full, SlicedTensor t)
    {
        int cols = t.FullShape.Length > 1 ? t.FullShape[1] : 1;
        switch (t.Kind)
        {
            case SplitKind.Rows:
                return full.AsSpan(t.Start * cols, t.Count * cols).ToArray();
            case SplitKind.Columns:
                var part = new List<float>();
                for (int r = 0; r < t.FullShape[0]; r++) part.AddRange(full.AsSpan(r * cols + t.Start, t.Count).ToArray());
                return [.. part];
            default:
                return full;
        }
    }

    private static float[] Local(float[] gradients, SlicedTensor t) => gradients.AsSpan((int)t.Local.Offset, (int)t.Local.Length).ToArray();

    [Theory]
    [InlineData("dense-tied")]
    [InlineData("dense-untied")]
    public void TwoWay_Gradients_MatchGoldenSlices(string caseName)
    {
        var expected = new FixtureFile(Path.Combine(FixtureFile.CaseDir(caseName), "expected.safetensors"));
        var (ids, batch, seqLen) = DenseGoldenTests.Inputs(expected);
        var targets = CausalLm.ShiftedTargets(ids, batch, seqLen);
        var ranks = ThreadGroup.Run(2, comm =>
        {
            using var model = (ITensorParallelTraining)TensorParallelModels.Load(comm, Definition(caseName), Checkpoint(caseName));
            float inference = model.Forward(ids, targets, batch, seqLen);
            model.ZeroGradients();
            float loss = model.ForwardTraining(ids, targets, batch, seqLen);
            model.Backward();
            return (inference, loss, gradients: model.Gradients.Slice(0, (int)model.Split.Count).ToArray(), model.Split);
        });
        int zeros = 0;
        foreach (var rank in ranks)
        {
            Assert.Equal(rank.inference, rank.loss);                 // the training forward runs the inference forward's operations
            Compare.Close(output, $"rank {rank.Split.Rank} loss", expected.F32("loss"), [rank.loss], Tolerances.Loss);
            foreach (var t in rank.Split.Tensors)
            {
                var want = SliceOf(expected.F32("grad." + t.Name), t);
                var got = Local(rank.gradients, t);
                Compare.Close(output, $"rank {rank.Split.Rank} grad.{t.Name} ({t.Kind})", want, got, Tolerances.Grad);
                for (int i = 0; i < want.Length; i++)
                {
                    if (want[i] != 0) continue;
                    zeros++;
                    Assert.True(got[i] == 0, $"rank {rank.Split.Rank} grad.{t.Name}[{i}] is {got[i]:R}; the reference gradient is exactly 0");
                }
            }
        }
        output.WriteLine($"{zeros} local gradient elements are exactly 0 in the reference and here");
        // The replicated norm weights: the same gradient on every rank, bit for bit (the AdamW step keeps them equal).
        foreach (var t in ranks[0].Split.Tensors.Where(t => t.Kind == SplitKind.Replicated))
            Assert.True(Local(ranks[0].gradients, t).AsSpan().SequenceEqual(Local(ranks[1].gradients, ranks[1].Split[t.Name])),
                        $"grad.{t.Name} differs between the ranks");
    }

    [Fact]
    public void TensorTimesData_TwoByTwo_GradientsMatchOneProcessOnTheWholeBatch()
    {
        const string caseName = "dense-untied";
        var expected = new FixtureFile(Path.Combine(FixtureFile.CaseDir(caseName), "expected.safetensors"));
        var (ids, batch, seqLen) = DenseGoldenTests.Inputs(expected);
        var targets = CausalLm.ShiftedTargets(ids, batch, seqLen);
        Assert.Equal(0, batch % 2);
        using var reference = DenseGoldenTests.Load(caseName);                  // the generated model, one process, the whole batch
        reference.ZeroGradients();
        float referenceLoss = reference.Forward(ids, targets, batch, seqLen);
        reference.Backward();
        var referenceGradients = reference.Tensors.ToDictionary(t => t.Name, t => reference.Gradients.Slice(t.Offset, (int)t.Length).ToArray());

        int half = batch / 2, n = half * seqLen;
        var ranks = ThreadGroup.Run(4, world =>
        {
            using var groups = ParallelGroups.Create(world, tensorParallel: 2);
            using var model = (ITensorParallelTraining)TensorParallelModels.Load(groups.Tensor, DenseUntied.Definition, Checkpoint(caseName));
            using var trainer = new TensorParallelTrainer(model, dataParallel: groups.Data);
            int first = groups.Data.Rank * n;                                     // data group d: sequences [d · half, (d + 1) · half)
            float loss = trainer.ComputeGradients(ids.AsSpan(first, n), targets.AsSpan(first, n), half, seqLen);
            return (tensor: groups.Tensor.Rank, data: groups.Data.Rank, loss, gradients: model.Gradients.Slice(0, (int)model.Split.Count).ToArray(), model.Split);
        });
        Assert.Equal([(0, 0), (1, 0), (0, 1), (1, 1)], ranks.Select(r => (r.tensor, r.data)));   // tp groups {0, 1} {2, 3}
        foreach (var (rank, k) in ranks.Select((r, k) => (r, k)))
        {
            Compare.Close(output, $"world rank {k} loss", [referenceLoss], [rank.loss], Tolerances.Loss);
            foreach (var t in rank.Split.Tensors)
                Compare.Close(output, $"world rank {k} grad.{t.Name}", SliceOf(referenceGradients[t.Name], t), Local(rank.gradients, t), Tolerances.Grad);
        }
        for (int k = 0; k < 2; k++)                                              // a data-parallel pair ends with the same bits
            Assert.Equal(ranks[k].gradients, ranks[k + 2].gradients);
    }

    [Fact]
    public void TwoWay_ThreeAdamWSteps_FollowOneProcess()
    {
        const string caseName = "dense-untied";
        var expected = new FixtureFile(Path.Combine(FixtureFile.CaseDir(caseName), "expected.safetensors"));
        var (ids, batch, seqLen) = DenseGoldenTests.Inputs(expected);
        var targets = CausalLm.ShiftedTargets(ids, batch, seqLen);
        var options = new AdamWOptions { LearningRate = 1e-2, Beta1 = 0.9, Beta2 = 0.95, WeightDecay = 0.1 };
        const int steps = 3;
        const double clip = 1.0;                                                 // below every step's norm: clipping is on

        using var reference = DenseGoldenTests.Load(caseName);
        using var optimizer = new AdamW(reference.Tensors, options);
        var expectedLosses = new float[steps + 1];                              // the loss before each step, and after the last
        var expectedNorms = new double[steps];
        for (int s = 0; s < steps; s++)
        {
            reference.ZeroGradients();
            expectedLosses[s] = reference.Forward(ids, targets, batch, seqLen);
            reference.Backward();
            expectedNorms[s] = GradientClipping.ClipGlobalNorm(reference.Gradients, clip);
            optimizer.Step(reference.Weights.Data, reference.Gradients);
        }
        Assert.All(expectedNorms, norm => Assert.True(norm > clip, $"norm {norm} does not reach the clip {clip}"));
        expectedLosses[steps] = reference.Forward(ids, targets, batch, seqLen);
        var expectedWeights = reference.Tensors.ToDictionary(t => t.Name, t => reference.Weights.Data.Slice(t.Offset, (int)t.Length).ToArray());

        var ranks = ThreadGroup.Run(2, comm =>
        {
            using var model = (ITensorParallelTraining)TensorParallelModels.Load(comm, DenseUntied.Definition, Checkpoint(caseName));
            using var trainer = new TensorParallelTrainer(model, options, gradientClip: clip);
            var losses = new float[steps + 1];
            var norms = new double[steps];
            for (int s = 0; s < steps; s++)
            {
                losses[s] = trainer.Step(ids, targets, batch, seqLen);
                norms[s] = trainer.LastGradientNorm;
            }
            losses[steps] = model.Forward(ids, targets, batch, seqLen);
            return (losses, norms, weights: model.Weights.Data.Slice(0, (int)model.Split.Count).ToArray(), model.Split);
        });
        // Weights: AdamW moves an element by about lr · m̂/√v̂, a ratio of its gradients, so an element whose gradient is
        // near zero (within Tolerances.Grad's absolute part) may move differently by up to ~lr per step in the two runs:
        // elementwise bounds say nothing. The tensors' whole updates Δ = w_3 − w_0 are compared instead, in relative L2
        // norm, against the gradients' relative tolerance.
        var initial = new FixtureFile(Checkpoint(caseName));
        output.WriteLine($"one process: {string.Join(", ", expectedLosses.Select(l => l.ToString("R")))}");
        foreach (var rank in ranks)
        {
            output.WriteLine($"rank {rank.Split.Rank}:     {string.Join(", ", rank.losses.Select(l => l.ToString("R")))}");
            Compare.Close(output, $"rank {rank.Split.Rank} losses", expectedLosses, rank.losses, Tolerances.Loss);
            Compare.Close(output, $"rank {rank.Split.Rank} gradient norms", expectedNorms.Select(n => (float)n).ToArray(),
                          rank.norms.Select(n => (float)n).ToArray(), Tolerances.Grad);
            foreach (var t in rank.Split.Tensors)
            {
                var w0 = SliceOf(initial.F32(t.Name), t);
                var want = SliceOf(expectedWeights[t.Name], t);
                var got = Local(rank.weights, t);
                double difference = 0, size = 0;
                for (int i = 0; i < w0.Length; i++)
                {
                    double dWant = (double)want[i] - w0[i], dGot = (double)got[i] - w0[i];
                    difference += (dGot - dWant) * (dGot - dWant);
                    size += dWant * dWant;
                }
                double relative = Math.Sqrt(difference / size);
                output.WriteLine($"rank {rank.Split.Rank} {t.Name,-50} update after {steps} steps: relative L2 difference {relative:E2}");
                Assert.True(relative <= Tolerances.Grad.Rtol, $"rank {rank.Split.Rank} {t.Name}: the update differs from one process's by {relative:E2} (relative L2)");
            }
        }
        Assert.True(expectedLosses[steps] < expectedLosses[0], "the steps lower the loss");
    }

    [Fact]
    public void FourWay_Gradients_MatchOneProcess()
    {
        using var dir = new TempDirectory("tp4train");
        using var reference = FourWayDense.Create();
        TestWeights.Randomize(reference, 11, std: 0.2f);
        CheckpointSaver.Save(reference.Tensors, reference.Weights, dir["model.safetensors"]);
        int[] ids = [5, 17, 200, 3, 99, 150, 42, 8, 1, 77, 64, 128];
        var targets = CausalLm.ShiftedTargets(ids, 2, 6);
        reference.ZeroGradients();
        float expectedLoss = reference.Forward(ids, targets, 2, 6);
        reference.Backward();
        var expectedGradients = reference.Tensors.ToDictionary(t => t.Name, t => reference.Gradients.Slice(t.Offset, (int)t.Length).ToArray());

        var ranks = ThreadGroup.Run(4, comm =>
        {
            using var model = (ITensorParallelTraining)TensorParallelModels.Load(comm, FourWayDense.Definition, dir["model.safetensors"]);
            model.ZeroGradients();
            float loss = model.ForwardTraining(ids, targets, 2, 6);
            model.Backward();
            return (loss, gradients: model.Gradients.Slice(0, (int)model.Split.Count).ToArray(), model.Split);
        });
        foreach (var rank in ranks)
        {
            Compare.Close(output, $"rank {rank.Split.Rank} loss", [expectedLoss], [rank.loss], Tolerances.Loss);
            foreach (var t in rank.Split.Tensors)
                Compare.Close(output, $"rank {rank.Split.Rank} grad.{t.Name} ({t.Kind})", SliceOf(expectedGradients[t.Name], t), Local(rank.gradients, t), Tolerances.Grad);
        }
        foreach (var t in ranks[0].Split.Tensors.Where(t => t.Kind == SplitKind.Replicated))
            for (int k = 1; k < 4; k++)
                Assert.True(Local(ranks[0].gradients, t).AsSpan().SequenceEqual(Local(ranks[k].gradients, ranks[k].Split[t.Name])),
                            $"grad.{t.Name} differs between ranks 0 and {k}");
    }

    [Fact]
    public void Checkpoint_HoldsTheWholeTensorsAndMoments_AndLoadsBackIntoEverySlice()
    {
        // 2-way tensor × 2-way data parallel; FourWayDense splits its vocabulary of 203 unevenly (101 / 102) and has an
        // untied LM head, so the gather meets row blocks of two sizes and the column blocks of o_proj and down_proj.
        using var dir = new TempDirectory("tpcheckpoint");
        using (var reference = FourWayDense.Create())
        {
            TestWeights.Randomize(reference, 5, std: 0.2f);
            CheckpointSaver.Save(reference.Tensors, reference.Weights, dir["init.safetensors"]);
        }
        var data = new Training.TextDataset(Enumerable.Range(0, 400).Select(i => i * 37 % 203).ToArray());
        var options = new Training.TrainingOptions { Steps = 5, Batch = 2, Context = 6, WarmupSteps = 0 };
        string run = dir["run"];
        var definition = FourWayDense.Definition;
        var ranks = ThreadGroup.Run(4, world =>
        {
            using var groups = ParallelGroups.Create(world, tensorParallel: 2);
            using var model = (ITensorParallelTraining)TensorParallelModels.Load(groups.Tensor, definition, dir["init.safetensors"]);
            float[] Copy(Kernels.NativeBuffer<float> b) => b.Slice(0, (int)model.Split.Count).ToArray();
            float[] weights, m, v;
            using (var trainer = new TensorParallelDatasetTrainer(world, groups, model, definition, data, options))
            {
                trainer.TrainStep();
                trainer.TrainStep();
                trainer.Save(run);
                (weights, m, v) = (Copy(model.Weights.Data), Copy(trainer.Optimizer.M), Copy(trainer.Optimizer.V));
            }
            using var zeros = (ITensorParallelTraining)TensorParallelModels.FromSlices(groups.Tensor, definition,
                split => Weights.Create(WeightFormat.F32, split.Count, split.VectorStart), "zeros");
            using var resumed = new TensorParallelDatasetTrainer(world, groups, zeros, definition, data, options);
            resumed.Load(run);
            return (weights, m, v, loaded: (Copy(zeros.Weights.Data), Copy(resumed.Optimizer.M), Copy(resumed.Optimizer.V)), resumed.Step, model.Split);
        });
        var saved = new FixtureFile(Path.Combine(run, "checkpoint", "model.safetensors"));
        var moments = new FixtureFile(Path.Combine(run, "checkpoint", "trainer.safetensors"));
        float[] flatM = moments.F32("optimizer.m"), flatV = moments.F32("optimizer.v");
        Assert.Equal(definition.ParameterCount, flatM.Length);
        var offsets = definition.TensorTable!.ToDictionary(t => t.Name, t => (int)t.Offset);
        foreach (var rank in ranks)
        {
            Assert.Equal(2, rank.Step);
            Assert.Equal(rank.weights, rank.loaded.Item1);                          // the reloaded slice, bit for bit
            Assert.Equal(rank.m, rank.loaded.Item2);
            Assert.Equal(rank.v, rank.loaded.Item3);
            foreach (var t in rank.Split.Tensors)
            {
                int length = t.FullShape.Aggregate(1, (n, d) => n * d);
                Assert.Equal(SliceOf(saved.F32(t.Name), t), Local(rank.weights, t));   // the file holds every rank's slice in its place
                Assert.Equal(SliceOf(flatM.AsSpan(offsets[t.Name], length).ToArray(), t), Local(rank.m, t));
                Assert.Equal(SliceOf(flatV.AsSpan(offsets[t.Name], length).ToArray(), t), Local(rank.v, t));
            }
        }
        Assert.Contains(ranks[0].m, x => x != 0);                                   // two steps left moments to compare
    }

    /// <summary>
    /// Writes model.safetensors through a stream that fails after 4 KiB (a full disk): its header and part of its first
    /// tensor (lm_head.weight, 203 × 32 floats), so rank 0 fails with every later tensor and both moments still to gather.
    /// </summary>
    private sealed class DiskFullMidWeights : Training.CheckpointFileSystem
    {
        public override void WriteFile(string path, Action<Stream> write)
        {
            if (Path.GetFileName(path) != "model.safetensors")
            {
                base.WriteFile(path, write);
                return;
            }
            using var stream = new FullAfter(4096);
            write(stream);
        }

        private sealed class FullAfter(long capacity) : MemoryStream
        {
            public override void Write(ReadOnlySpan<byte> buffer) => Write(buffer.ToArray(), 0, buffer.Length);

            public override void Write(byte[] buffer, int offset, int count)
            {
                if (Length + count > capacity) throw new IOException("injected: no space left on device");
                base.Write(buffer, offset, count);
            }
        }
    }

    [Fact]
    public void SaveFailingOnRankZero_MidGather_FailsOnEveryRank_AndKeepsThePreviousCheckpoint()
    {
        using var dir = new TempDirectory("tpsavefail");
        using (var reference = FourWayDense.Create())
        {
            TestWeights.Randomize(reference, 5, std: 0.2f);
            CheckpointSaver.Save(reference.Tensors, reference.Weights, dir["init.safetensors"]);
        }
        var data = new Training.TextDataset(Enumerable.Range(0, 400).Select(i => i * 37 % 203).ToArray());
        var options = new Training.TrainingOptions { Steps = 5, Batch = 2, Context = 6, WarmupSteps = 0 };
        string run = dir["run"];
        var ranks = ThreadGroup.Run(4, world =>
        {
            using var groups = ParallelGroups.Create(world, tensorParallel: 2);
            using var model = (ITensorParallelTraining)TensorParallelModels.Load(groups.Tensor, FourWayDense.Definition, dir["init.safetensors"]);
            using var trainer = new TensorParallelDatasetTrainer(world, groups, model, FourWayDense.Definition, data, options);
            trainer.TrainStep();
            trainer.Save(run);                                                       // step 1: complete
            trainer.TrainStep();
            Exception? failure = null;
            try { trainer.Save(run, new DiskFullMidWeights()); }                     // step 2: rank 0's disk fills mid-file
            catch (IOException e) { failure = e; }
            trainer.TrainStep();                                                     // every rank is still in step: the collectives go on
            return failure?.Message;
        }, timeout: TimeSpan.FromSeconds(30));
        output.WriteLine(string.Join("\n", ranks));
        Assert.Contains("injected: no space left on device", ranks[0]);
        for (int k = 1; k < 4; k++) Assert.Contains("Rank 0 failed saving the checkpoint", ranks[k]);
        string? found = TrainingCheckpoint.Find(run);
        Assert.NotNull(found);
        Assert.Equal(1, TrainingCheckpoint.ReadInfo(found).Step);                   // the previous checkpoint, whole
    }

    [Fact]
    public void MoeTraining_IsRefused_SayingWhy()
    {
        string checkpoint = Path.Combine(FixtureFile.CaseDir("moe"), "model.safetensors");
        var error = Assert.Throws<AggregateException>(() => ThreadGroup.Run(2, comm =>
        {
            using var model = (ITensorParallelTraining)TensorParallelModels.Load(comm, MoeTied.Definition, checkpoint);
            return model.ForwardTraining([1, 2], [2, CausalLm.IgnoreIndex], 1, 2);
        }));
        var refused = Assert.IsType<NotSupportedException>(error.InnerException);
        Assert.Contains("mixture of experts", refused.Message);
    }
}
