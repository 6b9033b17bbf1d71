using System.Buffers.Binary;
using Qwen3Gen.Checkpoints;
using Qwen3Gen.Inference;
using Qwen3Gen.Sample.Commands;
using Qwen3Gen.Models;

namespace Qwen3Gen.Fuzz.Tests;

/// <summary>dense-q (tests/Fixtures/golden-gguf, from shared/golden-gguf): the shape of the GGUF fixtures, so a damaged file that still parses meets a definition.</summary>
[Qwen3Model(Config = "Fixtures/golden-gguf/dense-q/config.json")]
public partial class FuzzDenseQ;

/// <summary>
/// Damaged GGUF files (the golden-gguf fixtures in four block types, mutated): loading the model in every weight
/// format, reading its tokenizer from the metadata and running a token through it either succeed or throw
/// InvalidDataException / NotSupportedException naming the file; through the CLI (`generate --model X.gguf`) the
/// command ends with an exit code and, when non-zero, an error whose first line names the file, never a stack trace.
/// </summary>
[Collection(ConsoleCollection.Name)]
public class GgufFuzzTests(Xunit.Abstractions.ITestOutputHelper output) : IClassFixture<TestCatalog>
{
    private static readonly string[] Types = ["q4_0", "q8_0", "q4_k_m", "q6_k"];

    private static string Fixture(string type) => Path.Combine(AppContext.BaseDirectory, "Fixtures", "golden-gguf", "dense-q", $"model-{type}.gguf");

    /// <summary>Values that break binary readers when written over a count, a length, a type id, a dimension or an offset.</summary>
    private static readonly ulong[] Integers =
    [
        0, 1, 2, 3, 4, 7, 8, 12, 13, 31, 32, 33, 255, 256, 0x7FFF_FFFF, 0x8000_0000, 0xFFFF_FFFF, 0x1_0000_0000,
        0x7FFF_FFFF_FFFF_FFFF, 0x8000_0000_0000_0000, 0xFFFF_FFFF_FFFF_FFFF, 1UL << 20, (1UL << 26) + 1, 1UL << 40,
    ];

    /// <summary>
    /// One mutation of <paramref name="file"/>: mostly inside the header (where every field a reader trusts lives),
    /// as an integer written over 4 or 8 bytes, byte-level damage, or a truncation; sometimes in the tensor data.
    /// </summary>
    private static byte[] Mutant(Random r, byte[] file, long headerBytes)
    {
        int header = (int)Math.Min(headerBytes, file.Length);
        switch (r.Next(5))
        {
            case 0:
            case 1:
            {
                var b = (byte[])file.Clone();
                for (int k = r.Next(1, 3); k > 0; k--)
                {
                    int at = r.Next(header - 8);
                    ulong value = Integers[r.Next(Integers.Length)];
                    if (r.Next(2) == 0) BinaryPrimitives.WriteUInt32LittleEndian(b.AsSpan(at), (uint)value);
                    else BinaryPrimitives.WriteUInt64LittleEndian(b.AsSpan(at), value);
                }
                return b;
            }
            case 2:
            {
                byte[] head = Mutate.Bytes(r, file[..header]);                                   // byte damage in the header
                return [.. head, .. file.AsSpan(header)];
            }
            case 3:
                return file[..r.Next(r.Next(2) == 0 ? header + 64 : file.Length)];               // truncated
            default:
            {
                var b = (byte[])file.Clone();                                                     // damaged tensor data
                for (int k = r.Next(1, 64); k > 0; k--) b[r.Next(header, b.Length)] = (byte)r.Next(256);
                return b;
            }
        }
    }

    private static void LoadAndRun(string path, WeightFormat format)
    {
        using var loaded = ModelDirectory.LoadGguf(path, format);
        var tokenizer = loaded.LoadTokenizer();
        int[] ids = tokenizer.Encode("hello <|im_end|>");
        _ = tokenizer.Decode(ids);
        using var session = loaded.Model.CreateSession(8);
        var logits = session.Prefill(ids.Length == 0 ? [0] : ids[..Math.Min(ids.Length, 8)]);
        if (logits.Length != loaded.Config.Vocab) throw new InvalidOperationException($"{logits.Length} logits for a vocabulary of {loaded.Config.Vocab}.");
    }

    [Fact]
    public void DamagedGgufFiles_LoadOrThrowInvalidDataOrNotSupported_NamingTheFile()
    {
        var files = Types.Select(t => File.ReadAllBytes(Fixture(t))).ToArray();
        var headers = Types.Select(t => { using var f = GgufFile.Open(Fixture(t)); return f.DataStart; }).ToArray();
        WeightFormat[] formats = [WeightFormat.Quantized, WeightFormat.F32, WeightFormat.BF16];
        int loadedCount = 0;
        int cases = FuzzBudget.Run("gguf", (r, folder) =>
        {
            int which = r.Next(files.Length);
            string path = Path.Combine(folder, $"model-{Types[which]}.gguf");
            File.WriteAllBytes(path, Mutant(r, files[which], headers[which]));
            if (Outcome.Of(() => LoadAndRun(path, formats[r.Next(formats.Length)]), path, typeof(InvalidDataException), typeof(NotSupportedException)))
                loadedCount++;
        }, minCases: 60);
        output.WriteLine($"{cases} damaged GGUF files, {loadedCount} loaded and ran");
    }

    [Fact]
    public void DamagedGgufFiles_ThroughGenerate_EndWithAnExitCode_AndOneLineNamingTheFile()
    {
        byte[] file = File.ReadAllBytes(Fixture("q4_0"));
        long header;
        using (var f = GgufFile.Open(Fixture("q4_0"))) header = f.DataStart;
        int refused = 0;
        int cases = FuzzBudget.Run("gguf-cli", (r, folder) =>
        {
            string path = Path.Combine(folder, "model.gguf");
            File.WriteAllBytes(path, Mutant(r, file, header));
            var (code, err) = Run(["generate", "--model", path, "--max-tokens", "2", "--seed", "1", "--", "hello"]);
            Assert.DoesNotContain("   at ", err);
            Assert.DoesNotContain("Unhandled exception", err);
            if (code != 0)
            {
                refused++;
                // One error: its first line names the file (a mismatch with the model goes on to list every tensor, a line each).
                string first = err.Split('\n')[0];
                Assert.True(first.StartsWith("generate: error: ", StringComparison.Ordinal) && first.Contains(path, StringComparison.Ordinal),
                            $"exit {code}, the error's first line does not name the file: {err}");
            }
        }, minCases: 20);
        output.WriteLine($"{cases} damaged GGUF files through generate, {refused} refused");
    }

    /// <summary>The fixture as it is: generate runs and exits 0 (so a refusal above is the damage, not the command line).</summary>
    [Fact]
    public void TheUndamagedFixture_Generates()
    {
        var (code, err) = Run(["generate", "--model", Fixture("q4_0"), "--max-tokens", "2", "--seed", "1", "--", "hello"]);
        Assert.True(code == 0, err);
    }

    /// <summary>Run-time sizes from the command line at their extremes: refused naming the option, before any buffer is sized from them.</summary>
    [Theory]
    [InlineData("--context", "2147483647", "--context")]
    [InlineData("--max-tokens", "2147483647", "--max-tokens")]
    [InlineData("--context", "64", "--max-tokens", "--max-tokens", "2147483647")]
    public void ExtremeContextAndMaxTokens_AreRefused_NamingTheOption(string option, string value, string named, params string[] more)
    {
        var (code, err) = Run(["generate", "--model", Fixture("q4_0"), option, value, .. more, "--", "hello"]);
        Assert.NotEqual(0, code);
        Assert.Single(err.Trim().Split('\n'));
        Assert.Contains($"{named} (", err);
    }

    /// <summary>
    /// Found by this fuzzer: a NaN in the weights made generate print "Logit 0 is NaN." without the file. The weights
    /// load (checking every value of a mapped file would read all of it), so the run reports it, naming the file.
    /// </summary>
    [Fact]
    public void NaNWeights_ThroughGenerate_AreAnErrorNamingTheFile()
    {
        string path = Path.Combine(Path.GetTempPath(), "qwen3gen-fuzz-nan-" + Guid.NewGuid().ToString("N") + ".gguf");
        byte[] file = File.ReadAllBytes(Fixture("q8_0"));
        using (var f = GgufFile.Open(Fixture("q8_0")))
        {
            var norm = f.Tensors["output_norm.weight"];
            Assert.Equal(GgmlType.F32, norm.Type);
            BinaryPrimitives.WriteSingleLittleEndian(file.AsSpan((int)(f.DataStart + norm.Offset)), float.NaN);
        }
        File.WriteAllBytes(path, file);
        try
        {
            var (code, err) = Run(["generate", "--model", path, "--max-tokens", "2", "--", "hello"]);
            Assert.Equal(1, code);
            Assert.StartsWith($"generate: error: '{path}': the model computed logits that are not finite numbers (Logit ", err);
            Assert.Contains("NaN", err);
        }
        finally { File.Delete(path); }
    }

    private static (int Code, string Err) Run(string[] args)
    {
        var stdout = new StringWriter();
        var stderr = new StringWriter();
        int code;
        lock (Console.Out)
        {
            TextWriter oldOut = Console.Out, oldErr = Console.Error;
            Console.SetOut(stdout);
            Console.SetError(stderr);
            try { code = CommandLine.Invoke(CommandLine.CreateRoot(), args, stderr); }
            finally
            {
                Console.SetOut(oldOut);
                Console.SetError(oldErr);
            }
        }
        return (code, stderr.ToString());
    }
}
