using System.Diagnostics;
using System.Globalization;
using System.Text.Json;
using System.Text.RegularExpressions;
using Qwen3Gen.Checkpoints;
using Qwen3Gen.Sample.Runs;
using Qwen3Gen.Training;
using Xunit.Abstractions;
using Qwen3Gen.Models;

namespace Qwen3Gen.Sample.Tests.Distributed;

/// <summary>
/// `mpirun -np N qwen3gen train` against one process: 2 ranks ≡ one process accumulating the same 2 micro-batches
/// (bit-identical weights, moments and losses), ZeRO-1 ≡ unsharded, the MoE model too, resume under mpirun ≡ straight,
/// resume on another rank count, 4 ranks ≡ one process accumulating 4, and a killed or hung rank ending the job with an error.
/// </summary>
public sealed class DataParallelTests(ITestOutputHelper output) : IDisposable
{
    private static readonly TimeSpan JobLimit = TimeSpan.FromSeconds(180);
    private readonly string _root = Path.Combine(Path.GetTempPath(), "qwen3gen-dp-" + Guid.NewGuid().ToString("N"));

    public void Dispose()
    {
        try { Directory.Delete(_root, recursive: true); } catch (IOException) { }
    }

    private string Data() => CorpusSlice.Write(_root);

    /// <summary>The train command line; <paramref name="extra"/> adds options or overrides the defaults' values.</summary>
    private string[] Args(string model, string output, int steps, params string[] extra)
    {
        var options = new List<string>
        {
            "--model", model, "--steps", steps.ToString(CultureInfo.InvariantCulture), "--batch", "2", "--context", "16", "--warmup", "2",
            "--lr", "3e-3", "--min-lr", "3e-4", "--threads", "1", "--eval-interval", "0", "--checkpoint-interval", "0",
            "--log-interval", "1", "--samples", "0", "--data", Data(), "--out", output,
        };
        for (int i = 0; i < extra.Length; i++)
        {
            int at = options.IndexOf(extra[i]);
            bool valued = i + 1 < extra.Length && !extra[i + 1].StartsWith("--", StringComparison.Ordinal);
            if (at >= 0 && valued) options[at + 1] = extra[++i];
            else options.Add(extra[i]);
        }
        return ["train", .. options];
    }

    /// <summary>One process, in this test host, with accumulation over <paramref name="accumulation"/> micro-batches.</summary>
    private (TrainSummary Summary, List<float> Losses) OneProcess(string model, string output, int steps, int accumulation, bool resume = false)
    {
        var recorder = new LossRecorder();
        var settings = new TrainSettings
        {
            Model = model,
            Training = new TrainingOptions { Steps = steps, Batch = 2, Context = 16, WarmupSteps = 2, LearningRate = 3e-3, MinLearningRate = 3e-4, GradientAccumulation = accumulation },
            Threads = 1, EvalInterval = 0, CheckpointInterval = 0, SampleChars = 0, Out = output, Data = Data(), Resume = resume,
        };
        return (TrainRun.Execute(settings, recorder, CancellationToken.None), recorder.Losses);
    }

    private string Mpi(int ranks, string[] args, int expectedExit = 0)
    {
        using var run = MpiRun.Start(ranks, args);
        int code = run.Wait(JobLimit);
        output.WriteLine(run.Output);
        Assert.True(code == expectedExit, $"mpirun exited with {code}, expected {expectedExit}:\n{run.Output}");
        return run.Output;
    }

    private static List<float> LoggedLosses(string text) =>
        Regex.Matches(text, @"^step \d+/\d+ \| loss ([0-9.]+)", RegexOptions.Multiline).Select(m => float.Parse(m.Groups[1].Value, CultureInfo.InvariantCulture)).ToList();

    private static byte[] Tensor(string file, string name)
    {
        using var f = SafeTensorsFile.Open(file);
        var values = new float[f.Tensors[name].ElementCount];
        f.ReadF32(name, 0, values);
        return System.Runtime.InteropServices.MemoryMarshal.AsBytes(values.AsSpan()).ToArray();
    }

    /// <summary>Weights (the whole model.safetensors) and AdamW's m and v byte for byte.</summary>
    private static void AssertSameState(string expected, string actual)
    {
        Assert.Equal(File.ReadAllBytes(Path.Combine(expected, "checkpoint", "model.safetensors")), File.ReadAllBytes(Path.Combine(actual, "checkpoint", "model.safetensors")));
        foreach (var name in new[] { "optimizer.m", "optimizer.v" })
            Assert.True(Tensor(Path.Combine(expected, "checkpoint", "trainer.safetensors"), name).AsSpan()
                        .SequenceEqual(Tensor(Path.Combine(actual, "checkpoint", "trainer.safetensors"), name)), $"{name} differs");
    }

    private static float SummaryLoss(string folder)
    {
        using var json = JsonDocument.Parse(File.ReadAllText(Path.Combine(folder, "summary.json")));
        return json.RootElement.GetProperty("FinalTrainLoss").GetSingle();
    }

    [Fact]
    public void TwoRanks_AreBitIdentical_ToOneProcessAccumulatingTheSameTwoMicroBatches_For50Steps()
    {
        if (!MpiRun.Available(output)) return;
        string single = Path.Combine(_root, "single"), ranks = Path.Combine(_root, "ranks");
        var (summary, losses) = OneProcess("Qwen3Tiny", single, 50, accumulation: 2);
        string text = Mpi(2, Args("Qwen3Tiny", ranks, 50));

        Assert.Contains("× 2 ranks (Open MPI", text);
        Assert.Matches(@"\| comm [0-9.]+ ms \|", text);
        var logged = LoggedLosses(text);
        Assert.Equal(50, logged.Count);
        Assert.Equal(losses.Select(l => MathF.Round(l, 4)), logged);                           // every step's loss as printed
        Assert.Equal(BitConverter.SingleToInt32Bits(summary.FinalTrainLoss), BitConverter.SingleToInt32Bits(SummaryLoss(ranks)));
        AssertSameState(single, ranks);
    }

    [Fact]
    public void FourRanks_AreBitIdentical_ToOneProcessAccumulatingFour_AlsoWithZeroOne()
    {
        // N > 2: an MPI all-reduce would bracket the 4 sums as its algorithm likes ((g0+g1)+(g2+g3) for recursive
        // doubling); the ordered reduction (all-to-all, sum in rank order, all-gather) adds ((g0+g1)+g2)+g3 as one
        // process accumulating does. The checkpoint also checks that the 4 ranks' weights hash alike.
        if (!MpiRun.Available(output)) return;
        string single = Path.Combine(_root, "single"), ranks = Path.Combine(_root, "ranks"), zero = Path.Combine(_root, "zero");
        OneProcess("Qwen3Tiny", single, 10, accumulation: 4);
        Assert.Contains("× 4 ranks", Mpi(4, Args("Qwen3Tiny", ranks, 10, "--checkpoint-interval", "5")));
        AssertSameState(single, ranks);
        Mpi(4, Args("Qwen3Tiny", zero, 10, "--zero", "--no-overlap"));
        AssertSameState(single, zero);
    }

    [Fact]
    public void ZeroOne_AndNoOverlap_GiveTheSameParameters_AsOneProcess()
    {
        if (!MpiRun.Available(output)) return;
        string single = Path.Combine(_root, "single"), zero = Path.Combine(_root, "zero"), plain = Path.Combine(_root, "plain");
        OneProcess("Qwen3Tiny", single, 8, accumulation: 2);
        Mpi(2, Args("Qwen3Tiny", zero, 8, "--zero"));
        AssertSameState(single, zero);
        Mpi(2, Args("Qwen3Tiny", plain, 8, "--no-overlap"));
        AssertSameState(single, plain);
    }

    [Fact]
    public void MoeModel_TwoRanks_EqualOneProcessWithAccumulation()
    {
        // Each micro-batch's aux loss is computed over that micro-batch (HF computes it per forward call), on one
        // rank as in one process; the gradients of the two are then averaged the same way.
        if (!MpiRun.Available(output)) return;
        string single = Path.Combine(_root, "single"), ranks = Path.Combine(_root, "ranks");
        OneProcess("Qwen3ShakespeareMoe", single, 4, accumulation: 2);
        string text = Mpi(2, Args("Qwen3ShakespeareMoe", ranks, 4, "--eval-interval", "2"));
        Assert.Contains("expert load at step 2", text);                                        // loads summed over the ranks
        AssertSameState(single, ranks);
    }

    [Fact]
    public void StoppedAndResumedUnderMpirun_EqualsAStraightRun_AndResumesOnAnotherRankCount()
    {
        if (!MpiRun.Available(output)) return;
        string straight = Path.Combine(_root, "straight"), resumed = Path.Combine(_root, "resumed"), other = Path.Combine(_root, "other");
        OneProcess("Qwen3Tiny", straight, 30, accumulation: 2);                                // ≡ 2 ranks (tested above)

        using (var run = MpiRun.Start(2, Args("Qwen3Tiny", resumed, 30)))
        {
            run.WaitFor("step 3/30", JobLimit);
            var ranks = run.RankProcesses();
            Assert.Equal(2, ranks.Length);
            MpiRun.Signal(ranks[1], MpiRun.SigTerm);                                        // as `kill` or a CI timeout: rank 1 asks to stop
            int code = run.Wait(JobLimit);
            output.WriteLine(run.Output);
            Assert.True(code == 0, run.Output);
            Assert.Matches(@"Stopped at step \d+/30", run.Output);                          // both ranks stopped at the same step and rank 0 saved
        }
        CopyDirectory(resumed, other);
        Assert.Contains("Resumed Qwen3Tiny", Mpi(2, Args("Qwen3Tiny", resumed, 30, "--resume")));
        AssertSameState(straight, resumed);

        var (summary, _) = OneProcess("Qwen3Tiny", other, 30, accumulation: 1, resume: true);  // the same checkpoint on 1 rank
        Assert.Equal(30, summary.Steps);
        Assert.True(summary.ResumedFrom is > 3 and < 30, $"resumed from {summary.ResumedFrom}");
    }

    private static void CopyDirectory(string from, string to)
    {
        foreach (var dir in Directory.GetDirectories(from, "*", SearchOption.AllDirectories)) Directory.CreateDirectory(dir.Replace(from, to));
        Directory.CreateDirectory(to);
        foreach (var file in Directory.GetFiles(from, "*", SearchOption.AllDirectories)) File.Copy(file, file.Replace(from, to));
    }

    private sealed class LossRecorder : ITrainingProgress
    {
        public List<float> Losses { get; } = [];
        public void Info(string text) { }
        public void Begin(long firstStep, long totalSteps) { }
        public void Step(StepResult step, double tokensPerSecond, TimeSpan trainingTime) => Losses.Add(step.Loss);
        public void Evaluated(long step, float validationLoss, TimeSpan evaluationTime, string sample) { }
        public void Saved(long step, string folder) { }
    }
}
