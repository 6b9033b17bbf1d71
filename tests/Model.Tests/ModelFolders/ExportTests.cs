using Qwen3Gen.Checkpoints;
using Qwen3Gen.Inference;
using Qwen3Gen.Tokenization;
using Qwen3Gen.Training;
using Xunit.Abstractions;
using Qwen3Gen.Models;

namespace Qwen3Gen.Model.Tests;

/// <summary>
/// `export` against the float64 reference: the golden dense-untied weights exported as BF16 shards must be, byte for byte,
/// the folder tests/Fixtures/export/dense-untied-bf16 that tests/Fixtures/export/check_export.py loaded with a reader of
/// its own and ran through the reference; and that folder, loaded back here, must give the reference's logits.
/// </summary>
public sealed class ExportTests(ITestOutputHelper output) : IClassFixture<TestCatalog>
{
    private const string Case = "dense-untied-bf16";
    private const long MaxShardBytes = 40_000;

    private static string FixtureDir => Path.Combine(AppContext.BaseDirectory, "Fixtures", "export", Case);

    [Fact]
    public void BF16ShardedExport_IsTheFolderTheReferenceChecked_AndGivesItsLogits()
    {
        using var temp = new TempDirectory();
        string tokenizer = Path.Combine(temp.Dir, "tokenizer"), exported = Path.Combine(temp.Dir, "export");
        TokenizerFolder.WriteByteLevel(tokenizer);
        using (var model = DenseGoldenTests.Load("dense-untied"))
        {
            var report = SnapshotExport.Export(model, exported, ModelFiles.ByteLevel.Generation, tokenizer, SafeTensorsDType.BF16, MaxShardBytes);
            Assert.True(report.WeightFiles.Count > 1, "40 KB shards must split this model");
            foreach (var file in report.WeightFiles) Assert.True(new FileInfo(Path.Combine(exported, file)).Length <= MaxShardBytes + 8192, $"{file} is past the shard size (+ header)");
        }
        // How the fixture was made (once): QWEN3GEN_WRITE_EXPORT_FIXTURE=<repo>/tests/Fixtures/export/dense-untied-bf16, then check_export.py on it.
        if (Environment.GetEnvironmentVariable("QWEN3GEN_WRITE_EXPORT_FIXTURE") is { Length: > 0 } write)
        {
            Directory.CreateDirectory(write);
            foreach (var file in Directory.GetFiles(exported)) File.Copy(file, Path.Combine(write, Path.GetFileName(file)), overwrite: true);
        }

        var expectedFiles = Directory.GetFiles(FixtureDir).Select(f => Path.GetFileName(f)!).Order(StringComparer.Ordinal).ToArray();
        var actualFiles = Directory.GetFiles(exported).Select(f => Path.GetFileName(f)!).Order(StringComparer.Ordinal).ToArray();
        Assert.Equal(expectedFiles, actualFiles);
        Assert.Contains("model.safetensors.index.json", actualFiles);
        foreach (var name in expectedFiles)
            Assert.True(File.ReadAllBytes(Path.Combine(FixtureDir, name)).AsSpan().SequenceEqual(File.ReadAllBytes(Path.Combine(exported, name))),
                        $"{name} differs from the checked fixture");

        var expected = new FixtureFile(Path.Combine(FixtureDir, "..", Case + ".expected.safetensors"));
        var (ids, batch, seqLen) = DenseGoldenTests.Inputs(expected);
        foreach (var format in new[] { WeightFormat.BF16, WeightFormat.F32 })
        {
            using var loaded = ModelDirectory.Load(FixtureDir, format);
            Assert.Equal(format, loaded.Format);
            loaded.Model.Forward(ids, [], batch, seqLen);
            Compare.Close(output, $"export {Case} loaded as {format}: logits", expected.F32("logits"), loaded.Model.Logits, Tolerances.Logits);
        }
    }

    [Fact]
    public void F32Export_KeepsEveryWeightExactly_InOneFile()
    {
        using var temp = new TempDirectory();
        string tokenizer = Path.Combine(temp.Dir, "tokenizer"), exported = Path.Combine(temp.Dir, "export");
        TokenizerFolder.WriteByteLevel(tokenizer);
        using var model = DenseGoldenTests.Load("dense-tied");
        var report = SnapshotExport.Export(model, exported, ModelFiles.ByteLevel.Generation, tokenizer);
        Assert.Equal(["model.safetensors"], report.WeightFiles);
        var golden = new FixtureFile(Path.Combine(FixtureFile.CaseDir("dense-tied"), "model.safetensors"));
        var written = new FixtureFile(Path.Combine(exported, "model.safetensors"));
        Assert.Equal(golden.Names, written.Names);                      // tied: no lm_head.weight, as transformers saves
        foreach (var name in golden.Names) Assert.Equal(golden.F32(name), written.F32(name));
        Assert.Throws<IOException>(() => SnapshotExport.Export(model, exported, ModelFiles.ByteLevel.Generation, tokenizer));   // never over a snapshot
    }
}
