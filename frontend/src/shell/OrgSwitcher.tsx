/**
 * The organization switcher: a button named "Organization" showing the current org; its menu
 * lists the user's organizations with their roles and a "New organization" action.
 */
import { useEffect, useId, useRef, useState, type KeyboardEvent } from "react";
import { useLocation, useNavigate } from "react-router";
import type { MeOrganization } from "../api/types";
import { initials } from "../lib/format";
import { ROLE_LABELS } from "../lib/roles";
import { orgPath, switchOrgPath } from "../lib/routes";
import { Dialog } from "../ui/Dialog";
import { CheckIcon, ChevronDownIcon, PlusIcon } from "../ui/icons";
import { CreateOrganizationForm } from "./CreateOrganizationForm";

interface OrgSwitcherProps {
  current: MeOrganization;
  organizations: readonly MeOrganization[];
}

export function OrgSwitcher({ current, organizations }: OrgSwitcherProps) {
  const [open, setOpen] = useState(false);
  const [creating, setCreating] = useState(false);
  const menuId = useId();
  const anchor = useRef<HTMLDivElement>(null);
  const button = useRef<HTMLButtonElement>(null);
  const menu = useRef<HTMLDivElement>(null);
  const navigate = useNavigate();
  const location = useLocation();

  useEffect(() => {
    if (!open) return;
    const items = menuItems(menu.current);
    (items.find((item) => item.getAttribute("aria-current") === "true") ?? items[0])?.focus();
    function onPointerDown(event: PointerEvent) {
      if (!anchor.current?.contains(event.target as Node)) setOpen(false);
    }
    document.addEventListener("pointerdown", onPointerDown);
    return () => document.removeEventListener("pointerdown", onPointerDown);
  }, [open]);

  function close(focusButton = true) {
    setOpen(false);
    if (focusButton) button.current?.focus();
  }

  function choose(org: MeOrganization) {
    close();
    if (org.id !== current.id) navigate(switchOrgPath(location.pathname, org.id));
  }

  function onMenuKeyDown(event: KeyboardEvent<HTMLDivElement>) {
    const items = menuItems(menu.current);
    const index = items.indexOf(document.activeElement as HTMLElement);
    const focusAt = (i: number) => items[(i + items.length) % items.length]?.focus();
    switch (event.key) {
      case "ArrowDown":
        event.preventDefault();
        focusAt(index + 1);
        break;
      case "ArrowUp":
        event.preventDefault();
        focusAt(index - 1);
        break;
      case "Home":
        event.preventDefault();
        focusAt(0);
        break;
      case "End":
        event.preventDefault();
        focusAt(items.length - 1);
        break;
      case "Escape":
        event.preventDefault();
        close();
        break;
      case "Tab":
        close(false);
        break;
    }
  }

  return (
    <div className="menu-anchor" ref={anchor}>
      <button
        ref={button}
        type="button"
        className="switcher"
        aria-label="Organization"
        aria-haspopup="menu"
        aria-expanded={open}
        aria-controls={open ? menuId : undefined}
        title={`${current.name} (${ROLE_LABELS[current.role]})`}
        onClick={() => setOpen((value) => !value)}
        onKeyDown={(event) => {
          if (event.key === "ArrowDown" && !open) {
            event.preventDefault();
            setOpen(true);
          }
        }}
      >
        <span className="avatar avatar--square" aria-hidden="true">
          {initials(current.name)}
        </span>
        <span className="switcher__name">{current.name}</span>
        <ChevronDownIcon size={16} />
      </button>
      {open ? (
        <div ref={menu} id={menuId} className="menu" role="menu" aria-label="Organizations" onKeyDown={onMenuKeyDown}>
          <div className="menu__label" aria-hidden="true">
            Organizations
          </div>
          {organizations.map((org) => {
            const isCurrent = org.id === current.id;
            return (
              <button
                key={org.id}
                type="button"
                role="menuitem"
                tabIndex={-1}
                className="menu__item"
                aria-current={isCurrent ? "true" : undefined}
                onClick={() => choose(org)}
              >
                <span className="avatar avatar--square" aria-hidden="true">
                  {initials(org.name)}
                </span>
                <span className="menu__item-main">{org.name}</span>
                <span className="menu__item-meta">{ROLE_LABELS[org.role]}</span>
                <span className="menu__check" aria-hidden="true">
                  {isCurrent ? <CheckIcon size={16} /> : null}
                </span>
              </button>
            );
          })}
          <div className="menu__separator" role="separator" />
          <button
            type="button"
            role="menuitem"
            tabIndex={-1}
            className="menu__item"
            onClick={() => {
              close(false);
              setCreating(true);
            }}
          >
            <PlusIcon size={16} />
            <span className="menu__item-main">New organization</span>
          </button>
        </div>
      ) : null}
      {creating ? (
        <Dialog
          title="New organization"
          description="An organization is a separate workspace with its own flows, knowledge, members and API keys. You will be its owner."
          onClose={() => setCreating(false)}
        >
          <CreateOrganizationForm
            onCreated={(org) => {
              setCreating(false);
              navigate(orgPath(org.id));
            }}
            secondaryAction={
              <button type="button" className="btn btn--ghost" onClick={() => setCreating(false)}>
                Cancel
              </button>
            }
          />
        </Dialog>
      ) : null}
    </div>
  );
}

function menuItems(menu: HTMLElement | null): HTMLElement[] {
  return menu ? Array.from(menu.querySelectorAll<HTMLElement>('[role="menuitem"]')) : [];
}
