using System.Globalization;
using Qwen3Gen.Checkpoints;
using Qwen3Gen.Definitions;
using Qwen3Gen.Inference;
using Qwen3Gen.Kernels;
using Qwen3Gen.Model.Tests.Chat;
using Qwen3Gen.Sample.Commands;
using Qwen3Gen.Models;

namespace Qwen3Gen.Model.Tests;

/// <summary>
/// The memory guard: weight bytes from a config (against the generated layouts and the model cards), MemAvailable
/// parsing, and `bench generate` / `generate --model` refusing a model bigger than the memory with one clear line.
/// The refusals use Qwen3-235B-A22B (470 GB in BF16), which no test machine holds, so they never allocate.
/// </summary>
public class MemoryBudgetTests : IClassFixture<TestCatalog>
{
    public static TheoryData<string, ModelConfig, long, long> Layouts => new()
    {
        { nameof(Qwen3_0_6B), Qwen3_0_6B.HyperParameters, Qwen3_0_6B.ParameterCount, Qwen3_0_6B.Layout.VectorStart },
        { nameof(Qwen3_8B), Qwen3_8B.HyperParameters, Qwen3_8B.ParameterCount, Qwen3_8B.Layout.VectorStart },
        { nameof(Qwen3_30B_A3B), Qwen3_30B_A3B.HyperParameters, Qwen3_30B_A3B.ParameterCount, Qwen3_30B_A3B.Layout.VectorStart },
        { nameof(Qwen3_235B_A22B), Qwen3_235B_A22B.HyperParameters, Qwen3_235B_A22B.ParameterCount, Qwen3_235B_A22B.Layout.VectorStart },
        { nameof(Qwen3ShakespeareMoe), Qwen3ShakespeareMoe.HyperParameters, Qwen3ShakespeareMoe.ParameterCount, Qwen3ShakespeareMoe.Layout.VectorStart },
        { nameof(TrainTinyMoe), TrainTinyMoe.HyperParameters, TrainTinyMoe.ParameterCount, TrainTinyMoe.Layout.VectorStart },
        { nameof(Qwen3ChatMoeTest), Qwen3ChatMoeTest.HyperParameters, Qwen3ChatMoeTest.ParameterCount, Qwen3ChatMoeTest.Layout.VectorStart },
    };

    [Theory, MemberData(nameof(Layouts))]
    public void ParameterCount_EqualsTheGeneratedLayout(string name, ModelConfig config, long count, long vectorStart)
    {
        Assert.True(MemoryBudget.ParameterCount(config) == count, $"{name}: {MemoryBudget.ParameterCount(config)} vs generated {count}");
        Assert.Equal(count - vectorStart, MemoryBudget.VectorCount(config));
    }

    [Fact]
    public void MoeSizes_MatchTheModelCards()
    {
        // Model cards: Qwen3-30B-A3B "30.5B" parameters, Qwen3-235B-A22B "235B".
        Assert.Equal("30.5", (MemoryBudget.ParameterCount(Qwen3_30B_A3B.HyperParameters) / 1e9).ToString("F1", CultureInfo.InvariantCulture));
        Assert.Equal("235", (MemoryBudget.ParameterCount(Qwen3_235B_A22B.HyperParameters) / 1e9).ToString("F0", CultureInfo.InvariantCulture));
    }

    [Theory]
    [InlineData(WeightFormat.BF16)]
    [InlineData(WeightFormat.F32)]
    public void WeightBytes_EqualWhatTheModelAllocates(WeightFormat format)
    {
        using var model = TrainTinyMoe.Create(format);
        Assert.Equal(model.Weights.Bytes, MemoryBudget.WeightBytes(TrainTinyMoe.HyperParameters, format));
    }

    [Fact]
    public void ParseMemAvailable_ReadsTheKilobyteLine()
    {
        const string meminfo = "MemTotal:       24684100 kB\nMemFree:         1000000 kB\nMemAvailable:   23755568 kB\nBuffers:           12 kB\n";
        Assert.Equal(23755568L * 1024, MemoryBudget.ParseMemAvailable(meminfo));
        Assert.Null(MemoryBudget.ParseMemAvailable("MemTotal:       24684100 kB\n"));
        Assert.Null(MemoryBudget.ParseMemAvailable("MemAvailable:   lots\n"));
        Assert.True(MemoryBudget.AvailableBytes() > 0);
    }

    [Fact]
    public void Shortfall_NamesBytesNeededAndAvailable()
    {
        var config = Qwen3_30B_A3B.HyperParameters;
        long bf16 = MemoryBudget.WeightBytes(config, WeightFormat.BF16);
        Assert.InRange(bf16, 60_000_000_000, 62_000_000_000);                  // 30.5 B × 2 bytes

        string? message = MemoryBudget.Shortfall("Qwen3_30B_A3B", config, WeightFormat.BF16, 24_000_000_000);
        Assert.NotNull(message);
        Assert.StartsWith($"Qwen3_30B_A3B needs {bf16.ToString("N0", CultureInfo.InvariantCulture)} bytes", message);
        Assert.Contains("only 24,000,000,000 bytes (24.00 GB) are available (", message);
        Assert.Null(MemoryBudget.Shortfall("Qwen3_30B_A3B", config, WeightFormat.BF16, bf16));

        // F32 that would fit in BF16 says so.
        Assert.Contains("BF16 weights would fit", MemoryBudget.Shortfall("Qwen3_30B_A3B", config, WeightFormat.F32, 100_000_000_000));
        var e = Assert.Throws<InsufficientMemoryException>(() => MemoryBudget.EnsureWeightsFit("x", config, WeightFormat.BF16, available: 1));
        Assert.Contains("x needs", e.Message);
    }

    [Fact]
    public void BenchGenerate_RefusesADefinitionBiggerThanMemory_BeforeAllocating()
    {
        var output = new StringWriter();
        var error = new StringWriter();
        int code = BenchCommand.RunGenerate(nameof(Qwen3_235B_A22B), "bf16", "1", 8, 2, 1, output, error);
        Assert.Equal(1, code);
        Assert.Equal("", output.ToString());
        string err = error.ToString();
        Assert.StartsWith("bench: error: Qwen3_235B_A22B needs ", err);
        Assert.Contains("in BF16, but only ", err);
        Assert.Contains(" are available (", err);
        Assert.Single(err.TrimEnd().Split('\n'));
    }

    [Fact]
    public void BenchGenerate_RunsAMoeDefinition()
    {
        var output = new StringWriter();
        var error = new StringWriter();
        int code = BenchCommand.RunGenerate(nameof(Qwen3ShakespeareMoe), "bf16", "1", 8, 2, 1, output, error);
        Assert.True(code == 0, error.ToString());
        Assert.Contains("Experts=8", output.ToString());
        Assert.Matches(@"\| BF16 \| 1 \| [\d.]+ \| [\d.]+ \| [\d.]+ \|", output.ToString());
    }

    [Fact]
    public void Generate_RefusesASnapshotBiggerThanMemory_WithOneLine()
    {
        // A qwen3_moe config.json of Qwen3-235B-A22B, the tokenizer, and one small BF16 shard: enough for the loader to
        // pick BF16, match the definition and find that 470 GB of weights do not fit.
        using var dir = new TempDirectory("Qwen3-235B-A22B");
        File.WriteAllText(dir["config.json"], Qwen3_235B_A22B.HyperParameters.ToHuggingFaceJson("bfloat16"));
        foreach (var file in Directory.GetFiles(ChatModelFolderFixture.TokenizerSource))
            File.Copy(file, dir[Path.GetFileName(file)]);
        var writer = new SafeTensorsWriter();
        writer.AddBF16("model.norm.weight", [2, 2], new BF16[4]);
        writer.Save(dir["model.safetensors"]);

        var e = Assert.Throws<InsufficientMemoryException>(() => ModelDirectory.Load(dir.Dir).Dispose());
        Assert.Contains("Qwen3_235B_A22B needs", e.Message);
        Assert.Contains(dir.Dir, e.Message);

        var error = new StringWriter();
        var settings = new GenerateCommand.Settings { Prompt = "hi", Model = new ModelSettings { ModelDir = dir.Dir, MaxTokens = 2 } };
        int code = GenerateCommand.Run(settings, TextWriter.Null, error, terminal: false);
        string err = error.ToString();
        Assert.Equal(1, code);
        Assert.StartsWith("generate: error: Model directory ", err);
        Assert.Contains("Qwen3_235B_A22B needs ", err);
        Assert.Contains("in BF16, but only ", err);
        Assert.DoesNotContain("   at ", err);
    }
}
