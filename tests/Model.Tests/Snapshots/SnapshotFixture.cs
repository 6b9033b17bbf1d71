using Qwen3Gen.Checkpoints;
using Qwen3Gen.Inference;

namespace Qwen3Gen.Model.Tests;

/// <summary>
/// One Hub-style snapshot of <see cref="Qwen3ChatTest"/>, built once for the snapshot tests: random weights from a
/// fixed seed, saved in BF16 and sharded into two files, with config.json, generation_config.json and (stand-in)
/// tokenizer files. <see cref="Original"/> keeps the float32 model the snapshot was written from.
/// </summary>
public sealed class SnapshotFixture : IDisposable
{
    public const ulong Seed = 20250607;

    /// <summary>What the stand-in tokenizer files contain (their content is never parsed by the loader).</summary>
    public const string TokenizerStandIn = "{\"stand-in\": true}\n";

    private readonly TempDirectory _dir = new("Qwen3-ChatTest");
    private readonly TempDirectory _tokenizer = new("tokenizer");

    public SnapshotFixture()
    {
        Original = Qwen3ChatTest.Create(WeightFormat.F32);
        WeightInit.Normal(Original, Seed);
        foreach (var name in (string[])["tokenizer.json", "tokenizer_config.json", "vocab.json", "merges.txt"])
            File.WriteAllText(_tokenizer[name], TokenizerStandIn);
        WeightInit.SaveHuggingFaceSnapshot(Original, Directory, SafeTensorsDType.BF16, shards: 2,
            generation: GenerationConfig.Qwen3Default, tokenizerDirectory: _tokenizer.Dir);
    }

    public IQwen3Model Original { get; }

    public string Directory => _dir.Dir;

    public void Dispose()
    {
        Original.Dispose();
        _dir.Dispose();
        _tokenizer.Dispose();
    }
}

[CollectionDefinition(Name)]
public sealed class SnapshotCollection : ICollectionFixture<SnapshotFixture>
{
    public const string Name = "Snapshot";
}
