using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.CSharp;
using Qwen3Gen.Generator.Tests.Infrastructure;

namespace Qwen3Gen.Generator.Tests;

/// <summary>
/// The generator must not redo work for edits that do not touch a definition: after an unrelated edit the
/// tracked steps (Qwen3ModelGenerator.Steps) must report Cached or Unchanged, never New or Modified.
/// </summary>
public class IncrementalityTests
{
    private const string Definition = """
        using Qwen3Gen;

        namespace Demo;

        [Qwen3Model(Vocab = 256, Hidden = 48, Layers = 2, Heads = 4, KvHeads = 2, HeadDim = 16, Ffn = 96)]
        public partial class Tiny { }

        [Qwen3Model(Config = "dense-untied/config.json")]
        public partial class FromConfig { }
        """;

    private static GeneratorDriver CreateDriver(params AdditionalText[] extra) =>
        GeneratorHarness.CreateDriver([
            new InMemoryAdditionalText("/repo/Configs/dense-untied/config.json", TestFiles.Read("Configs/dense-untied/config.json")),
            .. extra]);

    private static IncrementalStepRunReason[] Reasons(GeneratorRun run, string step) =>
        run.Result.Results.Single().TrackedSteps[step].SelectMany(s => s.Outputs).Select(o => o.Reason).ToArray();

    private static void AssertReused(GeneratorRun run, params string[] steps)
    {
        foreach (var step in steps)
        {
            var reasons = Reasons(run, step);
            Assert.NotEmpty(reasons);
            Assert.All(reasons, r => Assert.True(r is IncrementalStepRunReason.Cached or IncrementalStepRunReason.Unchanged,
                $"step {step}: {r} (expected Cached or Unchanged)"));
        }
    }

    [Fact]
    public void UnrelatedFile_LeavesTrackedStepsCached()
    {
        var compilation = GeneratorHarness.CreateCompilation(Definition);
        var first = GeneratorHarness.Run(CreateDriver(), compilation);
        Assert.Empty(first.GeneratorDiagnostics);
        Assert.Equal(2, first.ParseResults.Count);

        var edited = compilation.AddSyntaxTrees(CSharpSyntaxTree.ParseText(
            "namespace Demo; public class Unrelated { public int X => 42; }", GeneratorHarness.ParseOptions, "Unrelated.cs"));
        var second = GeneratorHarness.Run(first.Driver, edited);

        AssertReused(second, Qwen3ModelGenerator.Steps.Declaration, Qwen3ModelGenerator.Steps.ConfigFiles, Qwen3ModelGenerator.Steps.Parse);
        Assert.Equal(first.ModelSourcesText, second.ModelSourcesText);
    }

    [Fact]
    public void UnrelatedAdditionalFile_LeavesTrackedStepsCached()
    {
        var compilation = GeneratorHarness.CreateCompilation(Definition);
        var first = GeneratorHarness.Run(CreateDriver(), compilation);
        var driver = first.Driver.AddAdditionalTexts([new InMemoryAdditionalText("/repo/notes.txt", "not a config")]);
        var second = GeneratorHarness.Run(driver, compilation);
        AssertReused(second, Qwen3ModelGenerator.Steps.Declaration, Qwen3ModelGenerator.Steps.ConfigFiles, Qwen3ModelGenerator.Steps.Parse);
    }

    [Fact]
    public void EditedDefinition_IsReparsed()
    {
        // The counter-check: the assertion above can fail. Changing Hidden must modify the Parse output.
        var compilation = GeneratorHarness.CreateCompilation(Definition);
        var first = GeneratorHarness.Run(CreateDriver(), compilation);
        var tree = compilation.SyntaxTrees.Single();
        var edited = compilation.ReplaceSyntaxTree(tree, tree.WithChangedText(
            Microsoft.CodeAnalysis.Text.SourceText.From(Definition.Replace("Hidden = 48", "Hidden = 64"))));
        var second = GeneratorHarness.Run(first.Driver, edited);
        Assert.Contains(IncrementalStepRunReason.Modified, Reasons(second, Qwen3ModelGenerator.Steps.Parse));
        Assert.Contains(second.ParseResults, r => r.Spec?.Shape.Hidden == 64);
    }
}
