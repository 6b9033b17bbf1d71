using System.Diagnostics;
using System.Globalization;
using System.Text.Json;
using System.Text.RegularExpressions;
using Qwen3Gen.Checkpoints;
using Qwen3Gen.Sample.Runs;
using Xunit.Abstractions;

namespace Qwen3Gen.Sample.Tests.Distributed;

/// <summary>
/// `mpirun -np P qwen3gen train … --tensor-parallel T` against the same command in one process (no mpirun, no
/// --tensor-parallel): 1 × 2 and 2 × 2 give one process's losses within a float tolerance (the split sums in another
/// order), the 2 × 2 checkpoint is an ordinary one that `generate` loads in one process, a run stopped by SIGTERM and
/// resumed ends byte-identical to a straight one (and its checkpoint resumes in one process), and what is not supported
/// is refused by name.
/// </summary>
public sealed class TensorParallelTrainTests(ITestOutputHelper output) : IDisposable
{
    private static readonly TimeSpan JobLimit = TimeSpan.FromSeconds(120);
    private readonly string _root = Path.Combine(Path.GetTempPath(), "qwen3gen-tp-" + Guid.NewGuid().ToString("N"));

    /// <summary>
    /// A printed loss (4 decimals) of a split run against one process's: each rounding moves it by ≤ 5e-5, and the
    /// float32 sums in another order (o_proj, down_proj and the LM head summed over the ranks) move the loss of a few
    /// steps by ~1e-6 relative; 1e-3 of a loss near 5.5 (ln 256) bounds both with room.
    /// </summary>
    private const float LossTolerance = 1e-3f;

    public void Dispose()
    {
        try { Directory.Delete(_root, recursive: true); } catch (IOException) { }
    }

    private string Data() => CorpusSlice.Write(_root);

    private string[] Args(string model, string output, int steps, params string[] extra) =>
    [
        "train", "--model", model, "--steps", steps.ToString(CultureInfo.InvariantCulture), "--batch", "2", "--context", "16", "--warmup", "2",
        "--lr", "3e-3", "--min-lr", "3e-4", "--threads", "1", "--eval-interval", "0", "--checkpoint-interval", "0",
        "--log-interval", "1", "--samples", "0", "--data", Data(), "--out", output, .. extra,
    ];

    private string Mpi(int ranks, string[] args)
    {
        using var run = MpiRun.Start(ranks, args);
        int code = run.Wait(JobLimit);
        output.WriteLine(run.Output);
        Assert.True(code == 0, $"mpirun exited with {code}:\n{run.Output}");
        return run.Output;
    }

    /// <summary>`dotnet qwen3gen.dll ARGS` as one process, without mpirun; its exit code and output.</summary>
    private (int Code, string Output) OneProcess(params string[] args)
    {
        var info = new ProcessStartInfo("dotnet") { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        info.ArgumentList.Add(Path.Combine(AppContext.BaseDirectory, "qwen3gen.dll"));
        foreach (var a in args) info.ArgumentList.Add(a);
        using var process = Process.Start(info)!;
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        if (!process.WaitForExit(JobLimit))
        {
            process.Kill(entireProcessTree: true);
            throw new TimeoutException($"qwen3gen {string.Join(' ', args)} did not end within {JobLimit.TotalSeconds} s.");
        }
        process.WaitForExit();
        string text = stdout.Result + stderr.Result;
        output.WriteLine(text);
        return (process.ExitCode, text);
    }

    private static List<string> LoggedLosses(string text) =>
        Regex.Matches(text, @"^step \d+/\d+ \| loss ([0-9.]+)", RegexOptions.Multiline).Select(m => m.Groups[1].Value).ToList();

    private static float Loss(string printed) => float.Parse(printed, CultureInfo.InvariantCulture);

    private static JsonElement Summary(string folder) => JsonDocument.Parse(File.ReadAllText(Path.Combine(folder, "summary.json"))).RootElement;

    private void AssertLossesClose(IReadOnlyList<string> expected, IReadOnlyList<string> actual)
    {
        Assert.Equal(expected.Count, actual.Count);
        float worst = 0;
        for (int i = 0; i < expected.Count; i++) worst = Math.Max(worst, Math.Abs(Loss(expected[i]) - Loss(actual[i])));
        output.WriteLine($"{expected.Count} step losses: largest difference {worst:E2} (allowed {LossTolerance:E0})");
        Assert.True(worst <= LossTolerance, $"losses differ by up to {worst}: one process {string.Join(", ", expected)}; split {string.Join(", ", actual)}");
    }

    private static byte[] Tensor(string file, string name)
    {
        using var f = SafeTensorsFile.Open(file);
        var values = new float[f.Tensors[name].ElementCount];
        f.ReadF32(name, 0, values);
        return System.Runtime.InteropServices.MemoryMarshal.AsBytes(values.AsSpan()).ToArray();
    }

    [Theory]
    [InlineData("1")]
    [InlineData("2")]                                                                           // micro-batches' gradients added by the backward
    public void TwoRanks_TensorParallel2_LossesMatchOneProcess(string accumulation)
    {
        if (!MpiRun.Available(output)) return;
        string single = Path.Combine(_root, "single"), split = Path.Combine(_root, "split");
        var (code, one) = OneProcess(Args("Qwen3Tiny", single, 8, "--accumulation", accumulation));
        Assert.Equal(0, code);
        string text = Mpi(2, Args("Qwen3Tiny", split, 8, "--accumulation", accumulation, "--tensor-parallel", "2"));

        Assert.Contains("1 data-parallel group(s) of tensor-parallel 2", text);
        AssertLossesClose(LoggedLosses(one), LoggedLosses(text));
        float expected = Summary(single).GetProperty("FinalValidationLoss").GetSingle(), actual = Summary(split).GetProperty("FinalValidationLoss").GetSingle();
        output.WriteLine($"validation loss: one process {expected:R}, 2-way {actual:R}");
        Assert.True(Math.Abs(expected - actual) <= LossTolerance, $"validation loss {actual} vs one process {expected}");
        Assert.Equal(2, Summary(split).GetProperty("TensorParallel").GetInt32());
    }

    [Fact]
    public void InitFrom_ACheckpoint_EachRankReadsItsSlice_AndTrainsAsOneProcess()
    {
        if (!MpiRun.Available(output)) return;
        string start = Path.Combine(_root, "start"), single = Path.Combine(_root, "single"), split = Path.Combine(_root, "split");
        Assert.Equal(0, OneProcess(Args("Qwen3Tiny", start, 3)).Code);
        string from = Path.Combine(start, "checkpoint");
        var (code, one) = OneProcess(Args("Qwen3Tiny", single, 4, "--init-from", from));
        Assert.Equal(0, code);
        string text = Mpi(2, Args("Qwen3Tiny", split, 4, "--init-from", from, "--tensor-parallel", "2"));
        Assert.Contains("each rank read its slice", text);
        AssertLossesClose(LoggedLosses(one), LoggedLosses(text));
    }

    [Fact]
    public void TwoByTwo_MatchesOneProcessAccumulatingTwo_AndItsCheckpointGeneratesInOneProcess()
    {
        // 2 data-parallel groups each take one micro-batch of a step, as 2 data-parallel ranks do: one process with
        // --accumulation 2 trains on the same windows.
        if (!MpiRun.Available(output)) return;
        string single = Path.Combine(_root, "single"), split = Path.Combine(_root, "split");
        var (code, one) = OneProcess(Args("Qwen3Tiny", single, 4, "--accumulation", "2"));
        Assert.Equal(0, code);
        string text = Mpi(4, Args("Qwen3Tiny", split, 4, "--tensor-parallel", "2"));
        Assert.Contains("2 data-parallel group(s) of tensor-parallel 2", text);
        AssertLossesClose(LoggedLosses(one), LoggedLosses(text));

        // The checkpoint is the one-process format: the same tensors, names and shapes in both files.
        string checkpoint = Path.Combine(split, "checkpoint");
        foreach (var file in new[] { "model.safetensors", "trainer.safetensors" })
        {
            using var a = SafeTensorsFile.Open(Path.Combine(single, "checkpoint", file));
            using var b = SafeTensorsFile.Open(Path.Combine(checkpoint, file));
            Assert.Equal(a.Tensors.Keys.Order(), b.Tensors.Keys.Order());
            foreach (var (name, info) in a.Tensors) Assert.Equal(info.ShapeText, b.Tensors[name].ShapeText);
        }
        var (generated, said) = OneProcess("generate", "ROMEO:", "--model", checkpoint, "--max-tokens", "8", "--temperature", "0", "--threads", "1");
        Assert.True(generated == 0, said);                                                   // loaded as a model folder and generated
    }

    [Fact]
    public void StoppedAndResumed_EqualsAStraightRun_ByteForByte_AndResumesInOneProcess()
    {
        if (!MpiRun.Available(output)) return;
        const int steps = 100;                                                              // enough that SIGTERM lands before the end
        string straight = Path.Combine(_root, "straight"), resumed = Path.Combine(_root, "resumed"), other = Path.Combine(_root, "other");
        var straightLosses = LoggedLosses(Mpi(2, Args("Qwen3Tiny", straight, steps, "--tensor-parallel", "2")));
        Assert.Equal(steps, straightLosses.Count);

        List<string> losses;
        using (var run = MpiRun.Start(2, Args("Qwen3Tiny", resumed, steps, "--tensor-parallel", "2")))
        {
            run.WaitFor($"step 3/{steps}", JobLimit);
            var ranks = run.RankProcesses();
            Assert.Equal(2, ranks.Length);
            MpiRun.Signal(ranks[1], MpiRun.SigTerm);                                        // rank 1 asks to stop: both stop at one step, rank 0 saves
            int code = run.Wait(JobLimit);
            output.WriteLine(run.Output);
            Assert.True(code == 0, run.Output);
            Assert.Matches($@"Stopped at step \d+/{steps}", run.Output);
            losses = LoggedLosses(run.Output);
        }
        CopyDirectory(resumed, other);
        string text = Mpi(2, Args("Qwen3Tiny", resumed, steps, "--tensor-parallel", "2", "--resume"));
        Assert.Contains("Resumed Qwen3Tiny", text);
        losses.AddRange(LoggedLosses(text));

        Assert.Equal(straightLosses, losses);                                                // every step's loss as printed
        Assert.Equal(Summary(straight).GetProperty("FinalTrainLoss").GetSingle(), Summary(resumed).GetProperty("FinalTrainLoss").GetSingle());
        Assert.Equal(File.ReadAllBytes(Path.Combine(straight, "checkpoint", "model.safetensors")), File.ReadAllBytes(Path.Combine(resumed, "checkpoint", "model.safetensors")));
        foreach (var name in new[] { "optimizer.m", "optimizer.v" })
            Assert.True(Tensor(Path.Combine(straight, "checkpoint", "trainer.safetensors"), name).AsSpan()
                        .SequenceEqual(Tensor(Path.Combine(resumed, "checkpoint", "trainer.safetensors"), name)), $"{name} differs");

        // The split run's checkpoint continues in one process, the moments restored (no --tensor-parallel).
        var (code1, one) = OneProcess(Args("Qwen3Tiny", other, steps, "--resume"));
        Assert.True(code1 == 0, one);
        Assert.Contains("Resumed Qwen3Tiny", one);
        Assert.Equal(steps, Summary(other).GetProperty("Steps").GetInt64());
    }

    [Fact]
    public void WhatIsNotSupported_IsRefusedByName()
    {
        var (code, text) = OneProcess(Args("Qwen3Tiny", Path.Combine(_root, "no-mpi"), 2, "--tensor-parallel", "2"));
        Assert.Equal(2, code);
        Assert.Contains("mpirun -np 2", text);
        foreach (var (settings, option) in new (TrainSettings, string)[]
                 {
                     (new TrainSettings { Lora = new Qwen3Gen.Training.Lora.LoraConfig { Rank = 4, Alpha = 8 } }, "--lora-rank"),
                     (new TrainSettings { Parallel = new Qwen3Gen.Distributed.DataParallelOptions { ShardOptimizer = true } }, "--zero"),
                     (new TrainSettings { Parallel = new Qwen3Gen.Distributed.DataParallelOptions { Overlap = false } }, "--no-overlap"),
                     (new TrainSettings { GradientCheckpointing = true }, "--gradient-checkpointing"),
                 })
        {
            var error = Assert.ThrowsAny<ArgumentException>(() => (settings with { TensorParallel = 2, Out = _root }).Validate());
            Assert.StartsWith(option + " is not supported with --tensor-parallel", error.Message);
        }

        if (!MpiRun.Available(output)) return;
        using (var odd = MpiRun.Start(3, Args("Qwen3Tiny", Path.Combine(_root, "odd"), 2, "--tensor-parallel", "2")))
        {
            Assert.NotEqual(0, odd.Wait(JobLimit));
            output.WriteLine(odd.Output);
            Assert.Contains("--tensor-parallel 2 must divide the 3 processes", odd.Output);
        }
        using var moe = MpiRun.Start(2, Args("Qwen3ShakespeareMoe", Path.Combine(_root, "moe"), 2, "--tensor-parallel", "2"));
        Assert.NotEqual(0, moe.Wait(JobLimit));
        output.WriteLine(moe.Output);
        Assert.Contains("Qwen3ShakespeareMoe is a mixture of experts, and tensor-parallel training covers dense models only", moe.Output);
    }

    private static void CopyDirectory(string from, string to)
    {
        foreach (var dir in Directory.GetDirectories(from, "*", SearchOption.AllDirectories)) Directory.CreateDirectory(dir.Replace(from, to));
        Directory.CreateDirectory(to);
        foreach (var file in Directory.GetFiles(from, "*", SearchOption.AllDirectories)) File.Copy(file, file.Replace(from, to));
    }
}
