using System.Collections.Immutable;
using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.CSharp;
using Qwen3Gen.Generator.Model;
using Qwen3Gen.Models;

namespace Qwen3Gen.Generator.Tests.Infrastructure;

/// <summary>
/// Runs <see cref="Qwen3ModelGenerator"/> in-process, the way the compiler does, over C# sources and
/// in-memory AdditionalFiles. References: the trusted platform assemblies (the BCL of this test run)
/// and the Qwen3Gen runtime, as in a project that references Qwen3Gen (with AllowUnsafeBlocks, as the generated kernels need).
/// </summary>
public static class GeneratorHarness
{
    /// <summary>
    /// The files every compilation gets whatever it declares (the attribute, Roslyn's EmbeddedAttribute):
    /// found by running the generator over an empty file, and left out of <see cref="GeneratorRun.ModelSources"/>.
    /// </summary>
    public static IReadOnlyCollection<string> PostInitializationHintNames => PostInit.Value;

    private static readonly Lazy<HashSet<string>> PostInit = new(() =>
    {
        var driver = CreateDriver().RunGenerators(CreateCompilation("namespace Empty;"));
        return driver.GetRunResult().Results.Single().GeneratedSources.Select(s => s.HintName).ToHashSet(StringComparer.Ordinal);
    });

    public const string SourcePath = "Model.cs";

    public static readonly CSharpParseOptions ParseOptions = new(LanguageVersion.Latest);

    private static readonly Lazy<ImmutableArray<MetadataReference>> References = new(() =>
    {
        var paths = ((string)AppContext.GetData("TRUSTED_PLATFORM_ASSEMBLIES")!).Split(Path.PathSeparator);
        var references = paths.Where(p => p.Length > 0).Select(p => (MetadataReference)MetadataReference.CreateFromFile(p)).ToList();
        references.Add(MetadataReference.CreateFromFile(typeof(Qwen3Gen.Models.ModelConfig).Assembly.Location));
        return references.ToImmutableArray();
    });

    public static CSharpCompilation CreateCompilation(string source, string path = SourcePath) =>
        CSharpCompilation.Create("Qwen3Gen.Harness",
            [CSharpSyntaxTree.ParseText(source, ParseOptions, path)],
            References.Value,
            new CSharpCompilationOptions(OutputKind.DynamicallyLinkedLibrary, nullableContextOptions: NullableContextOptions.Enable,
                allowUnsafe: true));

    public static GeneratorDriver CreateDriver(params AdditionalText[] additionalTexts) =>
        CSharpGeneratorDriver.Create(
            [new Qwen3ModelGenerator().AsSourceGenerator()],
            additionalTexts,
            ParseOptions,
            optionsProvider: null,
            driverOptions: new GeneratorDriverOptions(IncrementalGeneratorOutputKind.None, trackIncrementalGeneratorSteps: true));

    /// <summary>Compiles <paramref name="source"/> with the generator; files are (path, text) AdditionalFiles.</summary>
    public static GeneratorRun Run(string source, params (string Path, string? Text)[] additionalFiles)
    {
        var texts = additionalFiles.Select(f => (AdditionalText)new InMemoryAdditionalText(f.Path, f.Text)).ToArray();
        return Run(CreateDriver(texts), CreateCompilation(source));
    }

    public static GeneratorRun Run(GeneratorDriver driver, Compilation compilation)
    {
        driver = driver.RunGeneratorsAndUpdateCompilation(compilation, out var output, out var generatorDiagnostics);
        return new GeneratorRun(driver, driver.GetRunResult(), output, generatorDiagnostics);
    }
}

/// <summary>The outcome of one generator run.</summary>
public sealed record GeneratorRun(GeneratorDriver Driver, GeneratorDriverRunResult Result, Compilation Output,
                                  ImmutableArray<Diagnostic> GeneratorDiagnostics)
{
    /// <summary>The generated files of the model(s), the attribute excluded, sorted by hint name.</summary>
    public IReadOnlyList<(string HintName, string Text)> ModelSources =>
        Result.Results.Single().GeneratedSources
            .Where(s => !GeneratorHarness.PostInitializationHintNames.Contains(s.HintName))
            .OrderBy(s => s.HintName, StringComparer.Ordinal)
            .Select(s => (s.HintName, s.SourceText.ToString()))
            .ToList();

    /// <summary>All generated model files as one text, each under a header line naming it.</summary>
    public string ModelSourcesText =>
        ModelSources.Count == 0
            ? "// (the generator emitted no model source)\n"
            : string.Concat(ModelSources.Select(s => "// ==== " + s.HintName + " ====\n" + s.Text.ReplaceLineEndings("\n").TrimEnd('\n') + "\n"));

    /// <summary>The generator's own diagnostics followed by the compiler's on the output compilation.</summary>
    public ImmutableArray<Diagnostic> AllDiagnostics => GeneratorDiagnostics.AddRange(Output.GetDiagnostics());

    /// <summary>The compiler's errors on the output (generated code included).</summary>
    public IReadOnlyList<Diagnostic> CompilationErrors =>
        Output.GetDiagnostics().Where(d => d.Severity == DiagnosticSeverity.Error).ToList();

    /// <summary>The parse results of the tracked Parse step (one per [Qwen3Model] class).</summary>
    internal IReadOnlyList<ParseResult> ParseResults =>
        Result.Results.Single().TrackedSteps[Qwen3ModelGenerator.Steps.Parse]
            .SelectMany(step => step.Outputs)
            .Select(o => (ParseResult)o.Value)
            .ToList();

    /// <summary>The one parsed spec (null when the definition was rejected).</summary>
    internal ModelSpec? Spec => ParseResults.Single().Spec;
}
