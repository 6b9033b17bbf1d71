using Qwen3Gen.Generator.Tests.Infrastructure;

namespace Qwen3Gen.Generator.Tests;

/// <summary>
/// The generated source of two definitions, compared with Snapshots/&lt;Name&gt;.verified.cs. A change in the
/// emitter shows up as a unified diff to review; accept it with UPDATE_SNAPSHOTS=1 (README.md).
/// </summary>
public class SnapshotTests
{
    [Fact]
    public void DenseTied_Inline_MatchesSnapshot()
    {
        // The golden dense-tied shape (golden/dense-tied/config.json) written inline.
        const string source = """
            using Qwen3Gen;

            namespace Demo;

            [Qwen3Model(Vocab = 256, Hidden = 48, Layers = 2, Heads = 4, KvHeads = 2, HeadDim = 16, Ffn = 96,
                        RopeTheta = 1e6, RmsNormEps = 1e-6, TieEmbeddings = true, MaxPositions = 64)]
            public partial class DenseTied { }
            """;
        var run = GeneratorHarness.Run(source);
        Assert.Empty(run.GeneratorDiagnostics);
        Assert.Empty(run.CompilationErrors);
        SnapshotAssert.Matches("DenseTied", run.ModelSourcesText);
    }

    [Fact]
    public void DenseUntied_Config_MatchesSnapshot()
    {
        const string source = """
            using Qwen3Gen;

            namespace Demo;

            [Qwen3Model(Config = "dense-untied/config.json")]
            public partial class DenseUntied { }
            """;
        var run = GeneratorHarness.Run(source,
            ("/repo/Configs/dense-untied/config.json", TestFiles.Read("Configs/dense-untied/config.json")));
        Assert.Empty(run.GeneratorDiagnostics);
        Assert.Empty(run.CompilationErrors);
        SnapshotAssert.Matches("DenseUntied", run.ModelSourcesText);
    }

    [Fact]
    public void Moe_Config_MatchesSnapshot()
    {
        const string source = """
            using Qwen3Gen;

            namespace Demo;

            [Qwen3Model(Config = "moe/config.json")]
            public partial class Moe { }
            """;
        var run = GeneratorHarness.Run(source, ("/repo/Configs/moe/config.json", TestFiles.Read("Configs/moe/config.json")));
        Assert.Empty(run.GeneratorDiagnostics);
        Assert.Empty(run.CompilationErrors);
        SnapshotAssert.Matches("Moe", run.ModelSourcesText);
    }
}
