using Qwen3Gen.Sample.Commands;

namespace Qwen3Gen.Sample.Tests;

/// <summary>
/// Hostile command lines: each is refused with a message that names the option (or the file) and a non-zero exit
/// code, before any work starts. The commands write their own errors to Console.Error, so the class captures it.
/// </summary>
[Collection("Console")]
public sealed class CommandLineTests : IDisposable
{
    private readonly string _root = Path.Combine(Path.GetTempPath(), "qwen3gen-cli-" + Guid.NewGuid().ToString("N"));

    public CommandLineTests() => Directory.CreateDirectory(_root);

    public void Dispose()
    {
        try { Directory.Delete(_root, recursive: true); } catch (IOException) { }
    }

    private static (int Code, string Out, string Err) Run(params string[] args)
    {
        var output = new StringWriter();
        var error = new StringWriter();
        TextWriter oldOut = Console.Out, oldErr = Console.Error;
        Console.SetOut(output);
        Console.SetError(error);
        try { return (CommandLine.Invoke(CommandLine.CreateRoot(), args, error), output.ToString(), error.ToString()); }
        finally
        {
            Console.SetOut(oldOut);
            Console.SetError(oldErr);
        }
    }

    private static void Refused((int Code, string Out, string Err) r, params string[] mentions)
    {
        Assert.NotEqual(0, r.Code);
        Assert.DoesNotContain("   at ", r.Err);                                    // no stack trace
        foreach (var m in mentions) Assert.Contains(m, r.Err);
    }

    [Theory]
    [InlineData("--frobnicate", "tokenize", "x", "--frobnicate")]
    [InlineData("--frobnicate=1", "tokenize", "--frobnicate=1", "x")]
    [InlineData("-q", "generate", "hi", "--model", "m", "-q")]
    public void UnknownOption_IsRefused_NotTakenAsText(string unknown, params string[] args)
    {
        var r = Run(args);
        Refused(r, "unknown option '" + unknown + "'");
        Assert.Equal(CommandLine.UsageError, r.Code);
    }

    [Fact]
    public void TextStartingWithADash_PassesAfterDoubleDash()
    {
        var r = Run("tokenize", "--", "--frobnicate");
        Assert.Equal(0, r.Code);
        Assert.Equal(string.Join(' ', Qwen3Gen.Tokenization.Qwen3Tokenizer.Bundled.Encode("--frobnicate")), r.Out.Trim());
    }

    [Theory]
    [InlineData("999999999")]
    [InlineData("-1")]
    [InlineData("151700")]          // inside the embedding, past the last token: no text
    public void DecodeOfAnIdWithoutAToken_IsRefused(string id)
    {
        Refused(Run("tokenize", "--decode", id), $"--decode {id}", "not a token id");
    }

    [Fact]
    public void TokenizeFile_ThatIsADirectory_SaysSo()
    {
        Refused(Run("tokenize", "--file", _root), _root, "is a directory");
        Refused(Run("tokenize", "--file", Path.Combine(_root, "nope.txt")), "nope.txt", "does not exist");
    }

    [Theory]
    [InlineData("--clip", "-1", "--clip (-1) must be a finite number at least 0")]
    [InlineData("--clip", "NaN", "--clip (NaN)")]
    [InlineData("--lr", "0", "--lr (0) must be in (0,")]
    [InlineData("--lr", "Infinity", "--lr (Infinity)")]
    [InlineData("--beta2", "1", "--beta2 (1) must be in [0, 1)")]
    [InlineData("--steps", "0", "--steps (0) must be a finite number at least 1")]
    [InlineData("--warmup", "-5", "--warmup (-5)")]
    [InlineData("--threads", "0", "--threads (0)")]
    [InlineData("--batch", "99999999999", "--batch")]
    public void TrainOptionOutOfRange_IsRefusedBeforeTraining(string option, string value, string message)
    {
        string output = Path.Combine(_root, "run");
        Refused(Run("train", "--model", "Qwen3Tiny", option, value, "--out", output), message);
        Assert.False(Directory.Exists(output));                                 // nothing started
    }

    /// <summary>Run-time sizes at their extremes: refused before anything is sized from them (docs/reliability.md, Run-time sizes).</summary>
    [Theory]
    [InlineData("--batch", "2147483647", "--context", "2", "Training Qwen3Tiny (batch 2147483647 × context 2) needs")]
    [InlineData("--batch", "65536", "--context", "256", "Training Qwen3Tiny (batch 65536 × context 256) needs")]
    [InlineData("--batch", "4", "--context", "2147483647", "--context (2147483647) exceeds Qwen3Tiny's max_position_embeddings (256)")]
    public void TrainBatchAndContext_AtTheirExtremes_AreRefusedNamingThem(string option, string value, string option2, string value2, string message)
    {
        string output = Path.Combine(_root, "run");
        Refused(Run("train", "--model", "Qwen3Tiny", option, value, option2, value2, "--out", output), message);
        Assert.False(Directory.Exists(Path.Combine(output, "checkpoint")));
    }

    [Theory]
    [InlineData("--max-tokens", "-1", "--max-tokens (-1)")]
    [InlineData("--max-tokens", "0", "--max-tokens (0)")]
    [InlineData("--top-p", "0", "--top-p (0)")]
    [InlineData("--temperature", "-0.5", "--temperature (-0.5)")]
    [InlineData("--context", "-3", "--context (-3)")]
    public void GenerateOptionOutOfRange_IsRefusedBeforeLoading(string option, string value, string message)
    {
        Refused(Run("generate", "hi", "--model", Path.Combine(_root, "no-model"), option, value), message);
    }

    [System.Runtime.InteropServices.DllImport("libc", SetLastError = true)]
    private static extern int mkfifo(string path, uint mode);

    [Fact]
    public async Task TrainData_ThatIsAFifo_IsRefused_NotReadForever()
    {
        string fifo = Path.Combine(_root, "data.fifo");
        Assert.Equal(0, mkfifo(fifo, Convert.ToUInt32("644", 8)));
        var run = Task.Run(() => Run("train", "--model", "Qwen3Tiny", "--steps", "2", "--data", fifo, "--out", Path.Combine(_root, "fifo-run")));
        Assert.Same(run, await Task.WhenAny(run, Task.Delay(TimeSpan.FromSeconds(60))));   // reading it would block forever
        Refused(await run, fifo, "FIFO");
    }
}
