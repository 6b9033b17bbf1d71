using Microsoft.CodeAnalysis;
using Qwen3Gen.Generator.Emitting;
using Qwen3Gen.Generator.Model;
using Qwen3Gen.Generator.Parsing;

namespace Qwen3Gen.Generator;

/// <summary>
/// The pipeline: [Qwen3Model] classes (+ config.json AdditionalFiles) -> ParseResult -> diagnostics and source.
/// All validation lives in <see cref="ModelParser"/>; <see cref="ModelEmitter"/> only writes.
/// </summary>
[Generator(LanguageNames.CSharp)]
public sealed class Qwen3ModelGenerator : IIncrementalGenerator
{
    /// <summary>Tracking names, asserted by the incrementality test.</summary>
    public static class Steps
    {
        public const string Declaration = nameof(Declaration);
        public const string ConfigFiles = nameof(ConfigFiles);
        public const string Parse = nameof(Parse);
    }

    public void Initialize(IncrementalGeneratorInitializationContext context)
    {
        context.RegisterPostInitializationOutput(static ctx =>
        {
            ctx.AddEmbeddedAttributeDefinition();
            ctx.AddSource("Qwen3ModelAttribute.g.cs", AttributeSource.Text);
        });

        var definitions = context.SyntaxProvider.ForAttributeWithMetadataName(
                AttributeSource.FullName,
                static (node, _) => node is Microsoft.CodeAnalysis.CSharp.Syntax.ClassDeclarationSyntax,
                static (ctx, ct) => DeclarationReader.Read(ctx, ct))
            .WithTrackingName(Steps.Declaration);

        // Only config.json files are read, as (path, text) pairs with value equality.
        var configFiles = context.AdditionalTextsProvider
            .Where(static f => f.Path.EndsWith(".json", System.StringComparison.OrdinalIgnoreCase))
            .Select(static (f, ct) => new ConfigFile(f.Path.Replace('\\', '/'), f.GetText(ct)?.ToString()))
            .Collect()
            .Select(static (files, _) => new EquatableArray<ConfigFile>(System.Linq.Enumerable.ToArray(files)))
            .WithTrackingName(Steps.ConfigFiles);

        var parsed = definitions.Combine(configFiles)
            .Select(static (pair, ct) => ModelParser.Parse(pair.Left, pair.Right, ct))
            .WithTrackingName(Steps.Parse);

        context.RegisterSourceOutput(parsed.Select(static (r, _) => r.Diagnostics), static (spc, diagnostics) =>
        {
            foreach (var d in diagnostics) spc.ReportDiagnostic(d.ToDiagnostic());
        });

        context.RegisterSourceOutput(parsed.Where(static r => r.Spec is not null).Select(static (r, _) => r.Spec!),
            static (spc, spec) => ModelEmitter.Emit(spc, spec));
    }
}
