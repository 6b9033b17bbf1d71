using System.Diagnostics;
using Qwen3Gen.Sample.Runs;
using Qwen3Gen.Training;
using Xunit.Abstractions;

namespace Qwen3Gen.Sample.Tests.Distributed;

/// <summary>A rank killed (SIGKILL) or hung (SIGSTOP) mid-run: the job ends within bounded time with an error, and the run folder never holds a half-written checkpoint.</summary>
public sealed class FaultTests(ITestOutputHelper output) : IDisposable
{
    private readonly string _root = Path.Combine(Path.GetTempPath(), "qwen3gen-dpfault-" + Guid.NewGuid().ToString("N"));

    public void Dispose()
    {
        try { Directory.Delete(_root, recursive: true); } catch (IOException) { }
    }

    private string[] Args(string output, params string[] extra)
    {
        string data = CorpusSlice.Write(_root);
        return ["train", "--model", "Qwen3Tiny", "--steps", "100000", "--batch", "2", "--context", "16", "--warmup", "2", "--threads", "1",
                "--eval-interval", "0", "--checkpoint-interval", "2", "--log-interval", "1", "--samples", "0", "--data", data, "--out", output, .. extra];
    }

    /// <summary>checkpoint/ either does not exist or holds all three files; resuming finds a complete one.</summary>
    private static void AssertNoHalfCheckpoint(string folder)
    {
        string final = Path.Combine(folder, TrainingCheckpoint.FolderName);
        if (Directory.Exists(final))
            foreach (var file in new[] { "model.safetensors", "config.json", "trainer.safetensors" })
                Assert.True(File.Exists(Path.Combine(final, file)), $"{final} lacks {file}");
        Assert.NotNull(TrainingCheckpoint.Find(folder));                                       // step 2's save at least
    }

    [Fact]
    public void KilledRank_EndsTheJob_WithAnError()
    {
        if (!MpiRun.Available(output)) return;
        string folder = Path.Combine(_root, "killed");
        using var run = MpiRun.Start(2, Args(folder));
        run.WaitFor("step 4: saved", TimeSpan.FromSeconds(120));
        var ranks = run.RankProcesses();
        Assert.Equal(2, ranks.Length);
        var clock = Stopwatch.StartNew();
        MpiRun.Signal(ranks[1], MpiRun.SigKill);
        int code = run.Wait(TimeSpan.FromSeconds(60));
        output.WriteLine($"ended {clock.Elapsed.TotalSeconds:F1} s after the kill, exit code {code}\n{run.Output}");
        Assert.NotEqual(0, code);
        Assert.Contains("signal 9", run.Output);                                               // mpirun names the dead rank
        AssertNoHalfCheckpoint(folder);
    }

    [Fact]
    public void HungRank_IsDetectedByTheTimeout_AndTheJobAborted()
    {
        if (!MpiRun.Available(output)) return;
        string folder = Path.Combine(_root, "hung");
        // 10 s, not less: on a loaded machine a healthy rank can be descheduled for seconds, and a tighter timeout
        // then fires before the stop (seen at load 50: "did not complete within 3 s" at step 2).
        using var run = MpiRun.Start(2, Args(folder, "--comm-timeout", "10"));
        run.WaitFor("step 4: saved", TimeSpan.FromSeconds(120));
        var ranks = run.RankProcesses();
        var clock = Stopwatch.StartNew();
        MpiRun.Signal(ranks[1], MpiRun.SigStop);                                              // alive but never answers
        int code = run.Wait(TimeSpan.FromSeconds(60));
        output.WriteLine($"ended {clock.Elapsed.TotalSeconds:F1} s after the stop, exit code {code}\n{run.Output}");
        Assert.NotEqual(0, code);
        Assert.Contains("did not complete within 10 s", run.Output);
        Assert.True(clock.Elapsed < TimeSpan.FromSeconds(40), $"took {clock.Elapsed}");
        AssertNoHalfCheckpoint(folder);
    }
}
