using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.CSharp;
using Microsoft.CodeAnalysis.CSharp.Syntax;
using Qwen3Gen.Generator.Tests.Infrastructure;
using Qwen3Gen.Kernels;

namespace Qwen3Gen.Generator.Tests;

/// <summary>
/// The generated code compiles whatever the user's namespace declares: every type it names is written with
/// <c>global::</c>, so a user type called <c>MatMul</c>, <c>Rope</c>, <c>Math</c> or <c>Span</c> next to the model
/// cannot capture the name. And every type the generator declares carries [GeneratedCode].
/// </summary>
public class GeneratedCodeHygieneTests
{
    private const string Dense = """
        [global::Qwen3Gen.Qwen3Model(Vocab = 256, Hidden = 48, Layers = 2, Heads = 4, KvHeads = 2, HeadDim = 16, Ffn = 96,
                                     RopeTheta = 1e6, RmsNormEps = 1e-6, TieEmbeddings = true, MaxPositions = 64)]
        public partial class DenseTied { }
        """;

    private const string Moe = """
        [global::Qwen3Gen.Qwen3Model(Vocab = 256, Hidden = 48, Layers = 3, Heads = 4, KvHeads = 2, HeadDim = 16, Ffn = 96,
                                     RopeTheta = 1e6, TieEmbeddings = false, MaxPositions = 64,
                                     Experts = 4, ExpertsPerToken = 2, ExpertFfn = 32, DecoderSparseStep = 2)]
        public partial class Moe { }
        """;

    public static TheoryData<string> Models => new() { Dense, Moe };

    [Theory]
    [MemberData(nameof(Models))]
    public void UserTypesNamedMatMulAndRope_DoNotBreakTheModel(string model)
    {
        // The example: types of the user's own namespace that share a name with runtime types.
        var run = GeneratorHarness.Run("namespace Demo;\n" + model + """

            public class MatMul { }
            public class Rope { }
            public static class RowOps { }
            public class Math { }
            public class Weights { }
            """);
        Assert.Empty(run.GeneratorDiagnostics);
        Assert.True(run.CompilationErrors.Count == 0, Describe(run.CompilationErrors));
    }

    [Theory]
    [MemberData(nameof(Models))]
    public void EveryTypeTheGeneratedCodeNames_CanBeShadowedByAUserType(string model)
    {
        // Collect every type (and root namespace) the generated code names outside the model itself ...
        var plain = GeneratorHarness.Run("namespace Demo;\n" + model);
        Assert.True(plain.CompilationErrors.Count == 0, Describe(plain.CompilationErrors));
        var named = NamedTypes(plain);
        Assert.Contains(("MatMul", 0), named);
        Assert.Contains(("Span", 1), named);
        Assert.Contains(("Layer", 1), named);
        Assert.Contains(("System", 0), named);

        // ... then declare a type of the same name and arity in the model's namespace: the model must still compile.
        var shadows = string.Join("\n", named.Select(n =>
            "public class " + n.Name + (n.Arity == 0 ? "" : "<" + string.Join(", ", Enumerable.Range(0, n.Arity).Select(i => "T" + i)) + ">") + " { }"));
        var shadowed = GeneratorHarness.Run("namespace Demo;\n" + model + "\n" + shadows);
        Assert.Empty(shadowed.GeneratorDiagnostics);
        Assert.True(shadowed.CompilationErrors.Count == 0, Describe(shadowed.CompilationErrors));
    }

    [Theory]
    [MemberData(nameof(Models))]
    public void EveryGeneratedType_CarriesGeneratedCode(string model)
    {
        var run = GeneratorHarness.Run("namespace Demo;\n" + model);
        var declarations = run.Output.SyntaxTrees
            .Where(t => t.FilePath.EndsWith(".g.cs", StringComparison.Ordinal) && !IsPostInitialization(t))
            .SelectMany(t => t.GetRoot().DescendantNodes().OfType<BaseTypeDeclarationSyntax>())
            .Where(d => d.Parent is TypeDeclarationSyntax)             // nested: the model class itself is the user's
            .ToList();
        Assert.NotEmpty(declarations);
        var missing = declarations.Where(d => !d.AttributeLists.SelectMany(l => l.Attributes)
                                                  .Any(a => a.Name.ToString().EndsWith("GeneratedCode", StringComparison.Ordinal)))
                                  .Select(d => d.Identifier.Text).ToList();
        Assert.True(missing.Count == 0, "Without [GeneratedCode]: " + string.Join(", ", missing));
    }

    private static bool IsPostInitialization(SyntaxTree tree) =>
        GeneratorHarness.PostInitializationHintNames.Any(h => tree.FilePath.EndsWith(h, StringComparison.Ordinal));

    /// <summary>(name, arity) of every type the generated model files name that is not declared by them, plus the root namespaces they name.</summary>
    private static List<(string Name, int Arity)> NamedTypes(GeneratorRun run)
    {
        var found = new HashSet<(string, int)>();
        foreach (var tree in run.Output.SyntaxTrees.Where(t => t.FilePath.EndsWith(".g.cs", StringComparison.Ordinal) && !IsPostInitialization(t)))
        {
            var model = run.Output.GetSemanticModel(tree);
            foreach (var name in tree.GetRoot().DescendantNodes().OfType<SimpleNameSyntax>())
            {
                var symbol = model.GetSymbolInfo(name).Symbol;
                if (symbol is INamedTypeSymbol type && !SymbolEqualityComparer.Default.Equals(type.ContainingAssembly, run.Output.Assembly))
                    found.Add((type.Name, type.Arity));
                else if (symbol is INamespaceSymbol ns && ns.ContainingNamespace is { IsGlobalNamespace: true })
                    found.Add((ns.Name, 0));
            }
        }
        return found.OrderBy(n => n.Item1, StringComparer.Ordinal).ToList();
    }

    private static string Describe(IReadOnlyList<Diagnostic> errors) =>
        errors.Count + " compile errors:\n" + string.Join("\n", errors.Take(40).Select(e => e.ToString()));
}
