using System.Diagnostics;
using Qwen3Gen.Checkpoints;
using Qwen3Gen.Inference;
using Qwen3Gen.Models;
using Xunit.Abstractions;

namespace Qwen3Gen.Sample.Tests.Distributed;

/// <summary>
/// `mpirun -np 2 qwen3gen generate|chat … --tensor-parallel 2` as a user runs it, against the same command in one process,
/// on a Qwen3FullVocab snapshot (full Qwen3 tokenizer, random BF16 weights in two shards); and a rank killed or stopped
/// mid-decode, and the command-line refusals.
/// </summary>
public sealed class TensorParallelCliTests(ITestOutputHelper output) : IDisposable
{
    private static readonly TimeSpan JobLimit = TimeSpan.FromSeconds(180);
    private readonly string _root = Path.Combine(Path.GetTempPath(), "qwen3gen-tp-" + Guid.NewGuid().ToString("N"));

    public void Dispose()
    {
        try { Directory.Delete(_root, recursive: true); } catch (IOException) { }
    }

    /// <summary>A Hub-style snapshot of Qwen3FullVocab with a fixed seed's weights and the bundled Qwen3 tokenizer files.</summary>
    private string Snapshot()
    {
        string dir = Path.Combine(_root, "Qwen3FullVocab");
        if (Directory.Exists(dir)) return dir;
        Catalog.Register();
        using var model = ModelCatalog.Find("Qwen3FullVocab")!.Create(WeightFormat.F32);
        WeightInit.Normal(model, 2026);
        SnapshotWriter.Save(model, dir, SafeTensorsDType.BF16, shards: 2, generation: GenerationConfig.Qwen3Default, tokenizerDirectory: TokenizerSource());
        return dir;
    }

    private static string TokenizerSource()
    {
        for (var d = new DirectoryInfo(AppContext.BaseDirectory); d is not null; d = d.Parent)
            if (File.Exists(Path.Combine(d.FullName, "Qwen3Gen.sln"))) return Path.Combine(d.FullName, "Runtime", "Tokenization", "qwen3");
        throw new DirectoryNotFoundException("The repository root (Qwen3Gen.sln) is not above the test assembly.");
    }

    /// <summary>The same command in one process (no mpirun): exit code, stdout, stderr.</summary>
    private static (int Code, string Stdout, string Stderr) OneProcess(IEnumerable<string> arguments, string? input = null)
    {
        var info = new ProcessStartInfo("dotnet")
        {
            RedirectStandardOutput = true, RedirectStandardError = true, RedirectStandardInput = input is not null, UseShellExecute = false,
        };
        info.ArgumentList.Add(Path.Combine(AppContext.BaseDirectory, "qwen3gen.dll"));
        foreach (var a in arguments) info.ArgumentList.Add(a);
        using var process = Process.Start(info)!;
        if (input is not null) { process.StandardInput.Write(input); process.StandardInput.Close(); }
        var stderr = process.StandardError.ReadToEndAsync();
        string stdout = process.StandardOutput.ReadToEnd();
        if (!process.WaitForExit(JobLimit)) { process.Kill(true); throw new TimeoutException("qwen3gen did not end."); }
        return (process.ExitCode, stdout, stderr.Result);
    }

    private static string[] Lines(string text) => text.Replace("\r", "").Split('\n').Select(l => l.Replace("\u001b[?1h\u001b=", "")).Where(l => l.Length > 0).ToArray();

    [Theory]
    [InlineData("--temperature", "0")]                                      // greedy
    [InlineData("--top-k", "20")]                                           // Qwen's default sampling with top-k: exactly Sampler's draws
    public void Generate_TwoRanks_PrintTheOneProcessText(string option, string value)
    {
        if (!MpiRun.Available(output)) return;
        string[] args = ["generate", "The king said", "--model", Snapshot(), "--max-tokens", "24", "--seed", "11", "--threads", "1", option, value];
        var one = OneProcess(args);
        Assert.True(one.Code == 0, one.Stderr);
        using var run = MpiRun.Start(2, [.. args, "--tensor-parallel", "2"]);
        int code = run.Wait(JobLimit);
        output.WriteLine($"one process:\n{one.Stdout}{one.Stderr}\n2 ranks:\n{run.Output}");
        Assert.Equal(0, code);
        Assert.Equal(Lines(one.Stdout), Lines(run.Stdout));
        Assert.Contains("tensor-parallel: 2 ranks", run.Output);
    }

    [Fact]
    public void Chat_TwoRanks_AnswerEveryTurnAsOneProcess()
    {
        if (!MpiRun.Available(output)) return;
        string[] args = ["chat", "--model", Snapshot(), "--max-tokens", "16", "--seed", "3", "--threads", "1"];
        const string turns = "Hello there\nTell me more\n/exit\n";
        var one = OneProcess(args, turns);
        Assert.True(one.Code == 0, one.Stderr);
        using var run = MpiRun.Start(2, [.. args, "--tensor-parallel", "2"], turns);
        int code = run.Wait(JobLimit);
        output.WriteLine($"one process:\n{one.Stdout}\n2 ranks:\n{run.Output}");
        Assert.Equal(0, code);
        Assert.Equal(Lines(one.Stdout), Lines(run.Stdout));
        Assert.True(Lines(one.Stdout).Length >= 2, "both turns answered");
    }

    /// <summary>
    /// A long decode with rank 1 killed or stopped a few seconds in: `bench tensor-parallel` on the 0.6B shape (random
    /// slices, no file) decodes 3,000 tokens twice at one thread a rank, minutes of work, so the signal lands mid-decode.
    /// </summary>
    [Theory]
    [InlineData(MpiRun.SigKill, "signal 9")]                               // mpirun sees the death and ends the job
    [InlineData(MpiRun.SigStop, "did not complete within 5 s")]            // alive but silent: rank 0's all-reduce times out
    public void ARankLostMidDecode_EndsTheJob_WithAnError(int signal, string message)
    {
        if (!MpiRun.Available(output)) return;
        using var run = MpiRun.Start(2, ["bench", "tensor-parallel", "--definition", "Qwen3_0_6B", "--prompt-tokens", "8", "--decode-tokens", "3000",
                                         "--repeat", "1", "--threads", "1", "--comm-timeout", "5"]);
        Thread.Sleep(TimeSpan.FromSeconds(15));
        var ranks = run.RankProcesses();
        Assert.Equal(2, ranks.Length);                                                        // still running
        var clock = Stopwatch.StartNew();
        MpiRun.Signal(ranks[1], signal);
        int code = run.Wait(TimeSpan.FromSeconds(90));
        output.WriteLine($"ended {clock.Elapsed.TotalSeconds:F1} s after signal {signal}, exit code {code}\n{run.Output}");
        Assert.NotEqual(0, code);
        Assert.Contains(message, run.Output);
        Assert.DoesNotContain("decode 3000 tokens", run.Output);
    }

    [Fact]
    public void TensorParallel_WithoutMpirun_OrWithAnotherRankCount_IsRefusedSayingHow()
    {
        var alone = OneProcess(["generate", "Hi", "--model", Snapshot(), "--tensor-parallel", "2"]);
        Assert.Equal(1, alone.Code);
        Assert.Contains("start it with `mpirun -np 2 qwen3gen generate", alone.Stderr);
        var bench = OneProcess(["bench", "generate", "--tensor-parallel", "2", "--definition", "Qwen3Tiny"]);
        Assert.Equal(1, bench.Code);
        Assert.Contains("--tensor-parallel 2 needs `mpirun -np 2`", bench.Stderr);
        if (!MpiRun.Available(output)) return;
        using var run = MpiRun.Start(2, ["generate", "Hi", "--model", Snapshot(), "--tensor-parallel", "4"]);
        Assert.NotEqual(0, run.Wait(JobLimit));
        Assert.Contains("--tensor-parallel 4 under mpirun -np 2", run.Output);
    }
}
