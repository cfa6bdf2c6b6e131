//! The map's side panel: the region search and the region tree, whose nodes
//! are links (select, open, close) and which takes arrow keys once hydrated.

use leptos::prelude::*;
use leptos_router::components::A;
use model::geo::{MapView as View, TreeNode};

use super::query::MapQuery;

// Props are owned (Leptos); the macro exempts only private components from this lint.
#[allow(clippy::needless_pass_by_value)]
#[component]
pub fn SidePanel(view: View, query: MapQuery) -> impl IntoView {
    let tree = view
        .tree
        .iter()
        .map(|n| tree_item(n, &query))
        .collect_view();
    let search_sel = query.sel.clone();
    let has_query = !view.query.is_empty();
    let clear = MapQuery {
        q: String::new(),
        ..query.clone()
    }
    .href();
    #[cfg(feature = "hydrate")]
    Effect::new(move |_| {
        if let Some(code) = PENDING_FOCUS.with(|p| p.borrow_mut().take()) {
            // After the new tree is in the document.
            request_animation_frame(move || {
                use wasm_bindgen::JsCast;
                let link = web_sys::window()
                    .and_then(|w| w.document())
                    .and_then(|d| {
                        d.query_selector(&format!(
                            "li[data-code=\"{code}\"] > .tree-node > .tree-link"
                        ))
                        .ok()
                        .flatten()
                    })
                    .and_then(|e| e.dyn_into::<web_sys::HtmlElement>().ok());
                if let Some(link) = link {
                    let _ = link.focus();
                }
            });
        }
    });
    view! {
        <form method="get" action="/map" role="search" class="tree-search">
            <label for="tree-q" class="visually-hidden">"Find a region"</label>
            <input id="tree-q" type="search" name="q" value=view.query.clone() placeholder="Find a region…" autocomplete="off" />
            <input type="hidden" name="sel" value=search_sel />
            <button type="submit" class="button">"Find"</button>
        </form>
        {has_query.then(|| view! { <p class="muted small">"Regions matching “" {view.query.clone()} "” · " <A href=clear>"clear"</A></p> })}
        <nav aria-label="Region tree">
            {if view.tree.is_empty() {
                view! { <p class="empty-state">"No region matches."</p> }.into_any()
            } else {
                view! { <ul class="tree" role="tree" aria-label="Areas, regions and sub-regions" on:keydown=tree_keys>{tree}</ul> }.into_any()
            }}
        </nav>
        <p class="muted small">
            <A href="/map">"Whole UK"</A>
            {move || crate::components::shell::use_me().filter(|me| me.can(model::auth::Permission::EditMap)).map(|_| view! {
                " · " <a href="/import">"Import outlets"</a>
            })}
        </p>
    }
}

#[cfg(feature = "hydrate")]
thread_local! {
    /// The tree node to focus once the tree has re-rendered.
    static PENDING_FOCUS: std::cell::RefCell<Option<String>> = const { std::cell::RefCell::new(None) };
}

/// Arrow keys in the tree (the WAI-ARIA tree pattern): Up/Down move between
/// visible nodes, Right opens a node or enters it, Left closes it or goes to
/// its parent, Home/End jump to the first/last node. Tab and Enter work as on
/// any link, with or without JavaScript.
#[allow(clippy::needless_pass_by_value)]
fn tree_keys(ev: leptos::ev::KeyboardEvent) {
    #[cfg(feature = "hydrate")]
    {
        use wasm_bindgen::JsCast;
        let Some(tree) = ev
            .current_target()
            .and_then(|t| t.dyn_into::<web_sys::Element>().ok())
        else {
            return;
        };
        let Ok(links) = tree.query_selector_all(".tree-link") else {
            return;
        };
        let links: Vec<web_sys::HtmlElement> = (0..links.length())
            .filter_map(|i| links.item(i))
            .filter_map(|n| n.dyn_into::<web_sys::HtmlElement>().ok())
            .collect();
        let active = web_sys::window()
            .and_then(|w| w.document())
            .and_then(|d| d.active_element());
        let Some(at) = links
            .iter()
            .position(|l| Some(l.unchecked_ref::<web_sys::Element>()) == active.as_ref())
        else {
            return;
        };
        let item = links[at].closest("li[role=treeitem]").ok().flatten();
        let toggle = || {
            item.as_ref()
                .and_then(|i| {
                    i.query_selector(":scope > .tree-node > .tree-toggle")
                        .ok()
                        .flatten()
                })
                .and_then(|t| t.dyn_into::<web_sys::HtmlElement>().ok())
        };
        let expanded = item.as_ref().and_then(|i| i.get_attribute("aria-expanded"));
        // Opening or closing re-renders the tree: keep the focus on this node.
        let remember = || {
            let code = item.as_ref().and_then(|i| i.get_attribute("data-code"));
            PENDING_FOCUS.with(|p| *p.borrow_mut() = code);
        };
        let target = match ev.key().as_str() {
            "ArrowDown" => links.get(at + 1).cloned(),
            "ArrowUp" => at.checked_sub(1).and_then(|i| links.get(i).cloned()),
            "Home" => links.first().cloned(),
            "End" => links.last().cloned(),
            "ArrowRight" => match expanded.as_deref() {
                Some("false") => {
                    if let Some(t) = toggle() {
                        remember();
                        t.click();
                    }
                    None
                }
                Some("true") => links.get(at + 1).cloned(),
                _ => None,
            },
            "ArrowLeft" => {
                if expanded.as_deref() == Some("true") {
                    if let Some(t) = toggle() {
                        remember();
                        t.click();
                    }
                    None
                } else {
                    item.as_ref()
                        .and_then(|i| i.parent_element())
                        .and_then(|ul| ul.closest("li[role=treeitem]").ok().flatten())
                        .and_then(|p| {
                            p.query_selector(":scope > .tree-node > .tree-link")
                                .ok()
                                .flatten()
                        })
                        .and_then(|l| l.dyn_into::<web_sys::HtmlElement>().ok())
                }
            }
            _ => return,
        };
        ev.prevent_default();
        if let Some(t) = target {
            let _ = t.focus();
        }
    }
    #[cfg(not(feature = "hydrate"))]
    let _ = ev;
}

fn tree_item(node: &TreeNode, query: &MapQuery) -> AnyView {
    let select_href = query.select(&node.code).href();
    let toggle_href = query.toggle(&node.code, node.open).href();
    let toggle = node.has_children.then(|| {
        let text = if node.open { "−" } else { "+" };
        let aria = format!(
            "{} {}",
            if node.open { "Collapse" } else { "Expand" },
            node.name
        );
        view! { <A href=toggle_href attr:class="tree-toggle" attr:aria-label=aria>{text}</A> }
    });
    let children = (!node.children.is_empty()).then(|| {
        let items = node
            .children
            .iter()
            .map(|c| tree_item(c, query))
            .collect_view();
        view! { <ul role="group">{items}</ul> }
    });
    let class = if node.selected {
        "tree-node selected"
    } else {
        "tree-node"
    };
    let expanded: Option<String> = node.has_children.then(|| node.open.to_string());
    let selected = node.selected.to_string();
    let current: Option<&'static str> = node.selected.then_some("true");
    let count_label = format!("{} outlets", node.outlets);
    let (code, name, count) = (node.code.clone(), node.name.clone(), node.outlets);
    view! {
        <li role="treeitem" aria-expanded=expanded aria-selected=selected data-code=code>
            <span class=class>
                {toggle}
                <A href=select_href attr:class="tree-link" attr:aria-current=current>
                    {name} <span class="count" aria-label=count_label>{count}</span>
                </A>
            </span>
            {children}
        </li>
    }
    .into_any()
}
