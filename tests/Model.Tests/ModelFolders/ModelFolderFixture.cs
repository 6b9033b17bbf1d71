using Qwen3Gen.Checkpoints;
using Qwen3Gen.Inference;
using Qwen3Gen.Models;

namespace Qwen3Gen.Model.Tests;

/// <summary>
/// One Hub-style snapshot of <see cref="Qwen3ChatTest"/>, built once for the snapshot tests: random weights from a
/// fixed seed, saved in BF16 and sharded into two files, with config.json, generation_config.json and the real Qwen3
/// tokenizer files (vocab.json, merges.txt, tokenizer_config.json from Runtime/Tokenization/qwen3, see its NOTICE.md).
/// <see cref="Original"/> keeps the float32 model the snapshot was written from.
/// </summary>
public sealed class ModelFolderFixture : IDisposable
{
    public const ulong Seed = 20250607;

    private readonly TempDirectory _dir = new("Qwen3-ChatTest");

    public ModelFolderFixture()
    {
        TestCatalog.Register();                           // the tests load Directory: matched among the registered definitions
        Original = Qwen3ChatTest.Create(WeightFormat.F32);
        WeightInit.Normal(Original, Seed);
        SnapshotWriter.Save(Original, Directory, SafeTensorsDType.BF16, shards: 2,
            generation: GenerationConfig.Qwen3Default, tokenizerDirectory: TokenizerSource);
    }

    public IQwen3Model Original { get; }

    public string Directory => _dir.Dir;

    /// <summary>The Qwen3 tokenizer files bundled with the runtime (the repository's copy).</summary>
    public static string TokenizerSource => Path.Combine(TestWeights.RepoRoot(), "Runtime", "Tokenization", "qwen3");

    public void Dispose()
    {
        Original.Dispose();
        _dir.Dispose();
    }
}

[CollectionDefinition(Name)]
public sealed class SnapshotCollection : ICollectionFixture<ModelFolderFixture>
{
    public const string Name = "Snapshot";
}
